"""Parameter declarations and the checking every policy's `configure` gets for free:
unknown names and ill-typed values are refused with a message naming the parameter, and
missing ones take their declared defaults (as the Rust SDK's `Params::resolve`)."""

import math
from dataclasses import dataclass

BOOLEAN, INTEGER, FLOAT, TEXT = "boolean", "integer", "float", "text"
_PYTHON_TYPE = {BOOLEAN: bool, INTEGER: int, FLOAT: float, TEXT: str}


class PolicyError(Exception):
    """An error the policy reports to the host as the call's `err` (never a trap)."""


@dataclass(frozen=True)
class Param:
    """One tunable parameter: kebab-case `name`, its type, default and one-line meaning."""

    name: str
    ty: str
    default: object
    description: str

    @staticmethod
    def float(name, default, description):
        return Param(name, FLOAT, float(default), description)

    @staticmethod
    def integer(name, default, description):
        return Param(name, INTEGER, int(default), description)

    @staticmethod
    def boolean(name, default, description):
        return Param(name, BOOLEAN, bool(default), description)

    @staticmethod
    def text(name, default, description):
        return Param(name, TEXT, str(default), description)


def _checked(spec, value):
    """`value` as the type `spec` declares, or a PolicyError naming the parameter. An
    integer is accepted where a float is declared; bool is never taken for int."""
    if spec.ty == FLOAT and type(value) is int:
        value = float(value)
    if type(value) is not _PYTHON_TYPE[spec.ty]:
        raise PolicyError(f"parameter `{spec.name}` must be {spec.ty.capitalize()}, got {value!r}")
    if spec.ty == FLOAT and not math.isfinite(value):
        raise PolicyError(f"parameter `{spec.name}` must be finite, got {value}")
    return value


def resolve(specs, given):
    """Checks `given` ((name, value) pairs) against `specs`; returns a dict holding every
    declared parameter, defaults filled in."""
    values = {s.name: s.default for s in specs}
    by_name = {s.name: s for s in specs}
    for name, value in given:
        spec = by_name.get(name)
        if spec is None:
            known = ", ".join(by_name) or "none"
            raise PolicyError(f"unknown parameter `{name}`; this policy accepts: {known}")
        values[name] = _checked(spec, value)
    return values
