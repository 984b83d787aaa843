"""BRIDGE (Yang & Bajwa 2019) in Python, on the host kernels: per coordinate, drop the b
largest and b smallest received values, add the node's own value, divide by k − 2b + 1.
Three host calls; the same kernels in the same order as policies/bridge (Rust), so the
outputs are identical bit for bit."""

import byz_policy as byz
from byz_policy import ops


class Bridge(byz.Defense):
    name = "bridge-py"
    version = "0.1.0"
    description = "BRIDGE coordinate-wise trimmed mean, written in Python on byz:policy@0.2.0's host kernels."
    params = [byz.Param.integer("b", 1, "values trimmed at each end per coordinate (Byzantine neighbours tolerated)")]
    opt_outs = ["no-neighbors"]

    def configure(self, p):
        if p["b"] < 0:
            raise byz.PolicyError(f"parameter `b` must be >= 0, got {p['b']}")
        self.b = p["b"]

    def aggregate(self, ctx, prev, local, received):
        k, b = len(received), self.b
        if k < 2 * b + 1:
            raise byz.PolicyError(
                f"BRIDGE with b = {b} needs at least 2b + 1 = {2 * b + 1} neighbours, but node {ctx.node} has {k}; "
                "lower `b` or use a denser graph"
            )
        total = ops.trimmed_sum(received, None, b)
        with_own = ops.combine(total, 1.0, [local], [1.0])
        return ops.scale(with_own, 1.0 / (k - 2 * b + 1))


Defense = byz.export_defense(Bridge)
