"""The ``[circuit]`` table of a circuit protocol: preset, overrides, and the key to blame for a circuit.

:func:`read_circuit` builds the :class:`~stimsim.Circuit` a protocol runs (the preset with its
``[circuit.overrides]``: population parameters, per population or for all, and the coupling J as
a number, a (post, pre) matrix or {post: {pre: number}}); :func:`circuit_key` names the key path
to blame when that circuit has no usable state. Messages come from the shared
:class:`~stimsim.protocol.reader.Reader`.
"""
from __future__ import annotations

import json

from ..circuit import POPULATION_PARAMETERS
from ..errors import closest
from ..presets import PRESETS, preset, preset_parameters
from .reader import key_text, show


def read_circuit(r):
    """(preset name, overrides as in the file, Circuit) from the ``[circuit]`` reader ``r``."""
    preset_name = r.string("preset", choices=list(PRESETS))
    own = preset_parameters(preset_name)
    allowed = list(dict.fromkeys(list(own) + list(POPULATION_PARAMETERS) + ["J"]))
    ov = r.child("overrides")
    kwargs, later = {}, {}
    for key, value in ov.data.items():
        if key not in allowed:
            ov.fail(f"unknown parameter {key!r} for preset {preset_name!r}{closest(key, allowed)}; allowed: {', '.join(allowed)}")
        if isinstance(value, dict) and not value:
            ov.fail("is an empty table, which would change nothing; give values (e.g. "
                    + (f"J = {{ {circuit_example(preset_name)[0]} = {{ {circuit_example(preset_name)[-1]} = 2.0 }} }}"
                       if key == "J" else f"{key} = {{ {circuit_example(preset_name)[0]} = 1.0 }}")
                    + ") or remove the key", key_text(key))
        if key == "J":
            kwargs["J"] = _coupling_matrix(ov, value)
        elif key in own and isinstance(value, dict) and key in POPULATION_PARAMETERS:
            # a preset argument that is also a population parameter (e.g. ping's common eta_bar),
            # given per population: applied to the populations after the preset is built
            later[key] = _per_population(ov, key, value, lambda v, k: ov.as_number(v, k))
        elif key in own:
            kwargs[key] = ov.as_number(value, key)
        elif key == "transfer":
            kwargs[key] = _per_population(ov, key, value, lambda v, k: ov.as_string(v, k, ["qif", "sigmoid"]))
        else:
            kwargs[key] = _per_population(ov, key, value, lambda v, k: ov.as_number(v, k))
    r.finish(["preset", "overrides"])
    try:
        circuit = preset(preset_name, **kwargs)
        if later:
            circuit = circuit.replace(**later)
    except (ValueError, TypeError) as exc:
        ov.fail(str(exc))
    return preset_name, json.loads(json.dumps(ov.data)), circuit


def circuit_example(preset_name):
    """The population names of a preset (for examples in messages)."""
    return list(preset(preset_name).names)


def _per_population(r, key, value, check):
    if isinstance(value, dict):
        return {pop: check(v, f"{key}.{key_text(pop)}") for pop, v in value.items()}
    return check(value, key)


def _coupling_matrix(r, value):
    """J as a number, a (post, pre) matrix or {post: {pre: number}} -> preset argument."""
    if isinstance(value, dict):
        out = {}
        for post, row in value.items():
            if not isinstance(row, dict):
                r.fail(f"must be a table {{pre = number}}, got {show(row)}", f"J.{key_text(post)}")
            if not row:
                r.fail("is an empty table, which would change nothing; give {pre = number} or remove it",
                       f"J.{key_text(post)}")
            for pre, v in row.items():
                out[(post, pre)] = r.as_number(v, f"J.{key_text(post)}.{key_text(pre)}")
        return out
    if isinstance(value, list):
        if not value or not all(isinstance(row, list) and len(row) == len(value) for row in value):
            r.fail("a J matrix must be a square list of lists (rows = post, columns = pre)", "J")
        return [[r.as_number(v, f"J[{i}][{j}]") for j, v in enumerate(row)] for i, row in enumerate(value)]
    return r.as_number(value, "J")


def circuit_key(overrides, message):
    """Key path to blame for a circuit without a usable state (no fixed point, a rate that overflows).

    ``circuit.overrides.J`` when the message names the coupling J and J was overridden,
    ``circuit.overrides.eta_bar`` / ``.I`` when it names eta_bar + I and only that one was
    overridden, else ``circuit.overrides`` (or ``circuit.preset`` without overrides).

    Parameters
    ----------
    overrides : dict
        ``[circuit.overrides]`` as in the file.
    message : str
        The error message of the fixed-point search or of the initial state.
    """
    overrides = overrides or {}
    if "coupling J[" in message and "J" in overrides:
        return "circuit.overrides.J"
    if "eta_bar + I" in message:
        given = [k for k in ("eta_bar", "I") if k in overrides]
        rest = [k for k in overrides if k not in ("eta_bar", "I", "J")]
        if len(given) == 1 and not rest:
            return f"circuit.overrides.{given[0]}"
    return "circuit.overrides" if overrides else "circuit.preset"
