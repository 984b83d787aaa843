"""Write byzhost policies in Python.

Subclass `Defense` or `Attack`, declare `params` with `Param`, compute with the host
kernels in `ops`, and end the app module with `Defense = export_defense(YourPolicy)` (or
`Attack = export_attack(...)`); componentize-py then builds a `byz:policy@0.2.0` component.
Models are handles to vectors the host keeps, so a policy that works through `ops` moves
only a few numbers per neighbour into Python.
"""

from . import ops
from .params import Param, PolicyError
from .policy import BROADCAST, PER_RECEIVER, Attack, Defense, export_attack, export_defense

__all__ = ["Attack", "BROADCAST", "Defense", "PER_RECEIVER", "Param", "PolicyError", "export_attack", "export_defense", "ops"]
