"""The registry of models: names -> model objects (the one list of models, ``_base.REGISTRY``)."""
from __future__ import annotations

from ..errors import unknown_name_error
from ._base import REGISTRY as _MODELS
from ._base import Model


def register(model):
    """Add a :class:`Model` instance under ``model.name`` (replacing one of the same name)."""
    if not isinstance(model, Model) or not model.name:
        raise ValueError(f"register expects a named stimsim Model instance, got {model!r}")
    _MODELS[model.name] = model
    return model


def unregister(name):
    """Remove the model registered under ``name`` (e.g. one a test added); returns it."""
    if name not in _MODELS:
        raise unknown_name_error("model", name, _MODELS)
    return _MODELS.pop(name)


def available():
    """Names of the registered models, in registration order."""
    return tuple(_MODELS)


def get(model):
    """The model object for a name (or the object itself)."""
    if isinstance(model, Model):
        return model
    if not isinstance(model, str) or model not in _MODELS:
        raise unknown_name_error("model", model, _MODELS)
    return _MODELS[model]


def resolve(models):
    """A tuple of model objects from one model or a sequence of them (names or objects)."""
    if isinstance(models, (str, Model)):
        return (get(models),)
    try:
        items = tuple(models)
    except TypeError:
        raise unknown_name_error("model", models, _MODELS) from None
    if not items:
        raise ValueError(f"give at least one model; allowed: {', '.join(_MODELS)}")
    return tuple(get(m) for m in items)
