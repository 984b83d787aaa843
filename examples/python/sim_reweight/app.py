"""Similarity reweighting (the paper's method) in Python, on the host kernels.

One `cross_stats` pass gives, for the node itself and every neighbour j, Δ_j·Δ_ii, ‖Δ_j‖²
and the sign counts of Δ_j = x_j − prev; the weights softmax(−c·KL) × ReLU(cos) and the
clipping factors are O(k) arithmetic here; one `combine` builds prev + Σ a_j Δ_j in the
host. Same formulas, in the same order, as policies/sim-reweight (Rust): sums run left to
right (Python's `sum` compensates, Rust's does not) and the node's own share is summed in
f32 as Rust does.
"""

import math
from array import array
from math import exp, inf, isfinite, log, sqrt

import byz_policy as byz
from byz_policy import ops

SMOOTHING = 1e-6


def total(values):
    """Σ values, left to right, as Rust's `Iterator::sum` (Python's `sum` compensates)."""
    out = -0.0
    for v in values:
        out += v
    return out


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
        if not received or ctx.dim == 0:
            return local
        rows = [local, *received]
        reference = ops.combine(local, 1.0, [prev], [-1.0])
        stats = ops.cross_stats(rows, prev, reference)
        if not isfinite(stats[0].norm_sq):
            raise byz.PolicyError(f"the node's own update local - prev is not finite (|Δ_ii|² = {stats[0].norm_sq})")
        omega = self.similarity(stats, ctx.dim)
        norm = total(omega)
        if not (norm > 0 and isfinite(norm)):
            ops.log("debug", f"all {len(rows)} similarity weights are zero; keeping the local model")
            return local
        # prev + Σ a_j (x_j − prev) = (1 − Σ a_j)·prev + Σ a_j x_j, a_j = ω_j·clip_j / Σ ω,
        # each a_j rounded to f32 (array('f') rounds as Rust's `as f32`), and their sum
        # accumulated in f32, left to right, as the Rust policy does.
        coefs = array("f", [w * c / norm for w, c in zip(omega, self.clipping(stats))])
        summed = array("f", [-0.0])
        for c in coefs:
            summed[0] += c
        own_share = array("f", [1.0 - summed[0]])[0]
        return ops.combine(prev, own_share, rows, coefs.tolist())

    def similarity(self, stats, dim):
        """ω_j = softmax_j(−c·KL(p_j‖q_i)) · max(0, cos(Δ_j, Δ_ii)); 0 for unusable rows."""
        usable = [isfinite(s.dot) and isfinite(s.norm_sq) for s in stats]
        if self.use_kl:
            scale, eps = 1.0 + 3.0 * SMOOTHING, SMOOTHING
            own = stats[0]
            q0 = (own.positive / dim + eps) / scale
            q1 = ((dim - own.positive - own.negative) / dim + eps) / scale
            q2 = (own.negative / dim + eps) / scale
            minus_c = -self.c
            logits = []
            for s, ok in zip(stats, usable):
                if not ok:
                    logits.append(-inf)
                    continue
                p0 = (s.positive / dim + eps) / scale
                p1 = ((dim - s.positive - s.negative) / dim + eps) / scale
                p2 = (s.negative / dim + eps) / scale
                logits.append(minus_c * (p0 * log(p0 / q0) + p1 * log(p1 / q1) + p2 * log(p2 / q2)))
            top = max(logits)
            exps = [exp(x - top) for x in logits]
            denominator = total(exps)
            kl_factor = [e / denominator for e in exps]
        else:
            kl_factor = [1.0] * len(stats)
        if not self.use_cos:
            return [w if ok else 0.0 for w, ok in zip(kl_factor, usable)]
        own_norm = sqrt(stats[0].norm_sq)
        out = []
        for s, w_kl, ok in zip(stats, kl_factor, usable):
            denom = sqrt(s.norm_sq) * own_norm
            out.append(w_kl * max(s.dot / denom, 0.0) if ok and denom > 0 else 0.0)
        return out

    def clipping(self, stats):
        """min(1, ‖Δ_ii‖ / ‖Δ_j‖) per row (1 when clipping is off)."""
        own_sq = stats[0].norm_sq
        if not self.clip:
            return [1.0] * len(stats)
        return [sqrt(own_sq / s.norm_sq) if s.norm_sq > own_sq else 1.0 for s in stats]


Defense = byz.export_defense(SimReweight)
