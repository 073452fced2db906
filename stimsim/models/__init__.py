"""Models as objects: one module per model, one registry.

>>> import stimsim
>>> sorted(stimsim.models.available())
['network', 'nmm1', 'nmm2']
>>> stimsim.models.get("nmm2").drive_enters.split(":")[0]
'v'

A new model is one module here (a :class:`Model` subclass) plus its kernel, registered with
:func:`register`; every layer above (simulation, fixed points, linear response, protocols, studies)
then accepts it by name or as an object.
"""
from ._base import Model, Variable
from ._nmm1 import NMM1Model
from ._network import NetworkModel
from ._nmm2 import NMM2Model
from ._registry import available, get, register, resolve

register(NMM2Model())
register(NMM1Model())
register(NetworkModel())     # the spiking QIF network (models.md M1): the ground truth, simulated only

__all__ = ["Model", "Variable", "NMM1Model", "NMM2Model", "NetworkModel", "available", "get", "register",
           "resolve"]
