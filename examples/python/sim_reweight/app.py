"""Similarity reweighting (the paper's method) in Python, on the host kernels.

One `cross_stats` pass gives, for the node itself and every neighbour j, Δ_j·Δ_ii, ‖Δ_j‖²
and the sign counts of Δ_j = x_j − prev; the weights softmax(−c·KL) × ReLU(cos) and the
clipping factors are O(k) arithmetic here; one `combine` builds prev + Σ a_j Δ_j in the
host. Same formulas, in the same order, as policies/sim-reweight (Rust): sums run left to
right (Python's `sum` compensates, Rust's does not) and the node's own share is summed in
f32 as Rust does.
"""

import math
import struct

import byz_policy as byz
from byz_policy import ops

SMOOTHING = 1e-6


def smoothed(s, dim):
    zero = dim - s.positive - s.negative
    return [(f / dim + SMOOTHING) / (1 + 3 * SMOOTHING) for f in (s.positive, zero, s.negative)]


def kl(p, q):
    return total(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def total(values):
    """Σ values, left to right, as Rust's `Iterator::sum` (Python's `sum` compensates)."""
    out = -0.0
    for v in values:
        out += v
    return out


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def usable(s):
    return math.isfinite(s.dot) and math.isfinite(s.norm_sq)


class SimReweight(byz.Defense):
    name = "sim-reweight-py"
    version = "0.1.0"
    description = "Similarity reweighting (the paper's method), written in Python on byz:policy@0.2.0's host kernels."
    params = [
        byz.Param.float("c", 5.0, "softmax temperature of -c*KL(p_j||q_i), Eq. (7); c >= 0"),
        byz.Param.boolean("use-kl", True, "weight by the sign-distribution KL softmax, Eq. (7)"),
        byz.Param.boolean("use-cos", True, "weight by ReLU(cosine) with the own update, Eq. (8)"),
        byz.Param.boolean("clip", True, "clip each update to the norm of the own update (Alg. 1, line 10)"),
    ]

    def configure(self, p):
        if p["c"] < 0:
            raise byz.PolicyError(f"parameter `c` must be >= 0, got {p['c']}")
        self.c, self.use_kl, self.use_cos, self.clip = p["c"], p["use-kl"], p["use-cos"], p["clip"]

    def aggregate(self, ctx, prev, local, received):
        if len(received) != len(ctx.neighbors):
            raise byz.PolicyError(f"received {len(received)} models for {len(ctx.neighbors)} neighbours")
        if not received or ctx.dim == 0:
            return local
        rows = [local, *received]
        reference = ops.combine(local, 1.0, [prev], [-1.0])
        stats = ops.cross_stats(rows, prev, reference)
        if not math.isfinite(stats[0].norm_sq):
            raise byz.PolicyError(f"the node's own update local - prev is not finite (|Δ_ii|² = {stats[0].norm_sq})")
        omega = self.similarity(stats, ctx.dim)
        norm = total(omega)
        if not (norm > 0 and math.isfinite(norm)):
            ops.log("debug", f"all {len(rows)} similarity weights are zero; keeping the local model")
            return local
        # prev + Σ a_j (x_j − prev) = (1 − Σ a_j)·prev + Σ a_j x_j, a_j = ω_j·clip_j / Σ ω.
        coefs = [f32(w * c / norm) for w, c in zip(omega, self.clipping(stats))]
        summed = -0.0
        for c in coefs:
            summed = f32(summed + c)
        own_share = f32(1.0 - summed)
        return ops.combine(prev, own_share, rows, coefs)

    def similarity(self, stats, dim):
        own = stats[0]
        kl_factor = [1.0] * len(stats)
        if self.use_kl:
            q = smoothed(own, dim)
            logits = [-self.c * kl(smoothed(s, dim), q) if usable(s) else -math.inf for s in stats]
            top = max(logits)
            exps = [math.exp(l - top) for l in logits]
            kl_factor = [e / total(exps) for e in exps]
        own_norm = math.sqrt(own.norm_sq)
        out = []
        for s, w_kl in zip(stats, kl_factor):
            denom = math.sqrt(s.norm_sq) * own_norm
            w_cos = max(s.dot / denom, 0.0) if self.use_cos and denom > 0 else (0.0 if self.use_cos else 1.0)
            out.append(w_kl * w_cos if usable(s) else 0.0)
        return out

    def clipping(self, stats):
        own_sq = stats[0].norm_sq
        return [math.sqrt(own_sq / s.norm_sq) if self.clip and s.norm_sq > own_sq else 1.0 for s in stats]


Defense = byz.export_defense(SimReweight)
