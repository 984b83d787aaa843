"""The `Defense` and `Attack` base classes and the export glue componentize-py builds from.

A policy subclasses `Defense` (or `Attack`), declares its name, version, description and
parameters as class attributes, and overrides `aggregate` (or `craft`). `export_defense`
turns it into the class componentize-py exports: one instance of the policy per component
(so it may keep state), parameters checked before `configure` sees them, the models' count
and lengths checked against the context before `aggregate` (`craft`) sees them, a `PolicyError`
turned into the call's `err` naming what went wrong, and `prev` / `local` returned as a new
handle when the policy keeps them. The generated bindings (`wit_world`) exist only while
componentize-py builds a component, so they are imported when a policy is exported.
"""

from collections.abc import Sequence

from . import params as _params
from .params import PolicyError

BROADCAST, PER_RECEIVER = "broadcast", "per-receiver"


class _Policy:
    name = ""
    version = "0.1.0"
    description = ""
    params = []
    stateless = True
    opt_outs = []

    def configure(self, params):
        """Apply checked parameters: a dict holding every declared parameter by name."""


class Defense(_Policy):
    """An aggregation rule run by every regular node."""

    def aggregate(self, ctx, prev, local, received):
        """Return the node's next model (a `models.Model`) from `prev` (its model at the
        start of the round), `local` (after local training) and `received` (one model per
        entry of `ctx.neighbors`). Raise `PolicyError` to refuse the call."""
        raise NotImplementedError


class Attack(_Policy):
    """The adversary controlling the Byzantine nodes."""

    def craft(self, ctx, honest):
        """Return `(mode, models)`: `BROADCAST` and one model per Byzantine node, or
        `PER_RECEIVER` and one per (Byzantine node, honest neighbour) pair, from the lent
        `honest` models (one per entry of `ctx.regular`)."""
        raise NotImplementedError


class Rows(Sequence):
    """The received (or honest) models of a call: a sequence of models the host lends as
    one list, each taken from the host only when the policy uses it."""

    def __init__(self, models):
        self._models = models
        self._lengths = models.lengths()
        self._taken = [None] * len(self._lengths)

    def lengths(self):
        """The length of every model (asked of the host once, with the list)."""
        return self._lengths

    def __len__(self):
        return len(self._taken)

    def __iter__(self):
        # Every model at once: one comprehension, not one Python-level lookup per model.
        if None in self._taken:
            get = self._models.get
            self._taken = [m if m is not None else get(i) for i, m in enumerate(self._taken)]
        return iter(self._taken)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"model {index} of {len(self)}")
        if self._taken[index] is None:
            self._taken[index] = self._models.get(index)
        return self._taken[index]


def _check_shapes(ctx, singles, rows, what, per):
    """The shapes a policy relies on, checked before it runs (as the Rust SDK's
    `check_defense_shapes`): `singles` (name, model) and every row of `ctx.dim` values,
    one row per entry of `per`."""
    for name, model in singles:
        if model.len() != ctx.dim:
            raise PolicyError(f"{name} has {model.len()} values, but ctx.dim is {ctx.dim}")
    if len(rows) != len(per):
        raise PolicyError(f"{what} holds {len(rows)} models, expected {len(per)}")
    for j, n in enumerate(rows.lengths()):
        if n != ctx.dim:
            raise PolicyError(f"{what} model {j} has {n} values, but ctx.dim is {ctx.dim}")


def _wit_value(types, value):
    if type(value) is bool:
        return types.ParamValue_Boolean(value)
    if type(value) is int:
        return types.ParamValue_Integer(value)
    if type(value) is float:
        return types.ParamValue_Float(value)
    return types.ParamValue_Text(value)


def _info(cls, types, kind):
    specs = [
        types.ParamSpec(p.name, getattr(types.ParamType, p.ty.upper()), _wit_value(types, p.default), p.description)
        for p in cls.params
    ]
    return types.PolicyInfo(cls.name, cls.version, kind, cls.description, specs, cls.stateless, list(cls.opt_outs))


def _reported(Err, call):
    """Runs `call`; a PolicyError becomes the WIT `err` with its message."""
    try:
        return call()
    except PolicyError as e:
        raise Err(str(e))


class _Instance:
    """The one policy instance of a component, created on first use."""

    def __init__(self, cls):
        self.cls, self.policy = cls, None

    def get(self):
        if self.policy is None:
            self.policy = self.cls()
        return self.policy

    def configure(self, Err, given):
        pairs = [(p.name, p.value.value) for p in given]
        _reported(Err, lambda: self.get().configure(_params.resolve(self.cls.params, pairs)))


def export_defense(cls):
    """The class componentize-py exports for the `defense` interface; assign it to a
    module-level name `Defense` in the component's app module."""
    from componentize_py_types import Err
    from wit_world import exports
    from wit_world.imports import types

    instance = _Instance(cls)

    class Export(exports.Defense):
        def info(self):
            return _info(cls, types, types.PolicyKind.DEFENSE)

        def configure(self, given):
            instance.configure(Err, given)

        def aggregate(self, ctx, prev, local, received):
            received = Rows(received)
            checked = lambda: _check_shapes(ctx, [("prev", prev), ("local", local)], received, "received", ctx.neighbors)
            _reported(Err, checked)
            out = _reported(Err, lambda: instance.get().aggregate(ctx, prev, local, received))
            # A borrowed model goes back as a new handle to the same values.
            return out.share() if out is prev or out is local else out

    return Export


def export_attack(cls):
    """The class componentize-py exports for the `attack` interface; assign it to a
    module-level name `Attack` in the component's app module."""
    from componentize_py_types import Err
    from wit_world import exports
    from wit_world.exports import attack
    from wit_world.imports import types

    instance = _Instance(cls)
    modes = {BROADCAST: types.SendMode.BROADCAST, PER_RECEIVER: types.SendMode.PER_RECEIVER}

    class Export(exports.Attack):
        def info(self):
            return _info(cls, types, types.PolicyKind.ATTACK)

        def configure(self, given):
            instance.configure(Err, given)

        def craft(self, ctx, honest):
            honest = Rows(honest)
            _reported(Err, lambda: _check_shapes(ctx, [], honest, "honest", ctx.regular))
            mode, vectors = _reported(Err, lambda: instance.get().craft(ctx, honest))
            if mode not in modes:
                raise Err(f"craft returned mode {mode!r}; use byz_policy.BROADCAST or byz_policy.PER_RECEIVER")
            return attack.Crafted(modes[mode], list(vectors))

    return Export
