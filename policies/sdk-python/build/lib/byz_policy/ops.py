"""Host kernels on models, as `byz:policy/models@0.2.0` defines them (summation order
included): the host computes on its own copies of the models at native speed, and only
the O(k) numbers these return cross into Python. A kernel's `err` (models of different
lengths, too few rows to trim) is raised as `PolicyError`, naming the kernel.

`Model(values)` builds a model from a list of floats (one copy into the host);
`model.read(start, count)` reads values back; `model.len()` is its length.
"""

from .params import PolicyError

# componentize-py keeps the imports a component's modules import while it is built (at
# module level), so these are imported here, not inside the functions. `local_data` exists
# only in the defense world; outside a component build there are no bindings at all.
try:
    from componentize_py_types import Err
    from wit_world.imports import host, models, types
except ImportError:
    Err = host = models = types = None
try:
    from wit_world.imports import local_data
except ImportError:
    local_data = None


def _models():
    if models is None:
        raise PolicyError("byz_policy.ops runs inside a component built by componentize-py (no wit_world bindings here)")
    return models


def _call(kernel, *args):
    try:
        return kernel(*args)
    except Err as e:
        raise PolicyError(str(e.value))


def Model(values):
    """A new model holding `values` (a list of floats)."""
    return _models().Model(list(values))


def cross_stats(rows, origin, reference):
    """Per row, what one pass over Δ = row − origin tells: `dot` (Δ·reference), `norm_sq`
    (‖Δ‖²), `positive` and `negative` (coordinates of Δ above and below zero)."""
    return _call(_models().cross_stats, list(rows), origin, reference)


def dot(a, b):
    """a · b."""
    return _call(_models().dot, a, b)


def norm_sq(a):
    """‖a‖²."""
    return _models().norm_sq(a)


def distances_sq(rows, to):
    """‖row − to‖² of every row."""
    return _call(_models().distances_sq, list(rows), to)


def combine(base, base_coef, rows=(), coefs=()):
    """base_coef · base + Σ coefs[j] · rows[j], added in order; a row with coefficient 0
    is never read."""
    return _call(_models().combine, base, float(base_coef), list(rows), [float(c) for c in coefs])


def scale(x, coef):
    """coef · x."""
    return combine(x, coef)


def sign_sum(rows, origin):
    """Per coordinate, Σ over rows of sign(origin − row), exact."""
    return _call(_models().sign_sum, list(rows), origin)


def mean(rows):
    """Per coordinate, the mean of the rows."""
    return _call(_models().mean, list(rows))


def mean_plus_z_std(rows, z):
    """Per coordinate, mean + z · population standard deviation of the rows."""
    return _call(_models().mean_plus_z_std, list(rows), float(z))


def median(rows, extra=None):
    """Per coordinate, the median of the rows and `extra`."""
    return _call(_models().median, list(rows), extra)


def trimmed_sum(rows, extra=None, trim=0):
    """Per coordinate, the sum after dropping the `trim` smallest and largest values."""
    return _call(_models().trimmed_sum, list(rows), extra, int(trim))


def extrapolate(x, origin, s):
    """Per coordinate, x + s · (x − origin)."""
    return _call(_models().extrapolate, x, origin, float(s))


def evaluate_loss(candidates):
    """Mean loss of each candidate model on the node's current batch (defenses only)."""
    if local_data is None:
        raise PolicyError("evaluate_loss is for defenses: an attack has no local data")
    return _call(local_data.evaluate_loss, list(candidates))


def log(level, message):
    """A line in the host's policy log; `level` is "debug", "info" or "warn"."""
    _models()
    host.log(getattr(types.LogLevel, level.upper()), message)


def random_u64():
    """Next value of the instance's deterministic random stream."""
    _models()
    return host.random_u64()
