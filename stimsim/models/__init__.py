"""Models as objects: one module per model, one registry.

>>> import stimsim
>>> sorted(stimsim.models.available())
['network', 'nmm1', 'nmm2']
>>> stimsim.models.get("nmm2").drive_enters.split(":")[0]
'v'

A new model is a :class:`Model` subclass registered with :func:`register` (a
:class:`PointwiseModel` needs only a per-element right-hand side; its kernels are generated). Every
engine above (simulation, batches and sweeps, fixed points, linear response, continuation,
whole-brain networks, protocols) then accepts it by name or as an object, and asks it what it can
do through its capabilities (``has_equations``, ``lane_kernel``, ``supports_delays``, ``options``,
...); no engine compares a model's name (docs/architecture.md).
"""
from ._base import Model, Variable
from ._nmm1 import NMM1Model
from ._network import NetworkModel
from ._nmm2 import NMM2Model
from ._pointwise import PointwiseModel
from ._regions import RegionLanes, RegionRun
from ._registry import available, get, register, resolve, unregister

register(NMM2Model())
register(NMM1Model())
register(NetworkModel())     # the spiking QIF network (models.md M1): the ground truth, simulated only

__all__ = ["Model", "Variable", "NMM1Model", "NMM2Model", "NetworkModel", "PointwiseModel", "RegionLanes",
           "RegionRun", "available", "get", "register", "resolve", "unregister"]
