"""Fixed points of a circuit under every model, with their stability (a tidy table).

NMM2 and NMM1 share their fixed points (s = r, z = 0, and for NMM2 v = v*(r)): the rates solve
r_k = T_k(x_k), x_k = eta_k + I_k + sum_l K[k, l] r_l (models.md M4, M5). Stability differs and
comes from each model's Jacobian.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import models as _models
from ._equilibria import find_equilibrium_rates
from ..units import khz_to_hz, rad_per_ms_to_hz
from ._linearize import linearize
from ._stability import classify, n_unstable


def find_fixed_points(circuit, method="auto"):
    """All fixed-point rates (n, P) in kHz, sorted by total rate.

    ``method``: 'exhaustive' (small circuits), 'homotopy' (continuation in the coupling from the
    uncoupled fixed point, for large circuits) or 'auto'; see ``stimsim.dynamics._equilibria``.

    Examples
    --------
    >>> import stimsim
    >>> stimsim.dynamics.find_fixed_points(stimsim.preset("pyramidal", J=15, eta_bar=-4)).shape
    (3, 1)
    """
    return find_equilibrium_rates(circuit, method=method)


def _models_for(circuit, models):
    if models is None:
        # models with equations (the spiking network has no fixed points of its own to linearise)
        return tuple(m for m in (_models.get(n) for n in _models.available())
                     if m.has_equations and m.supports(circuit) is None)
    ms = _models.resolve(models)
    for m in ms:
        m.check_supports(circuit)
    return ms


def fixed_points(circuit, models=None, method="auto"):
    """All fixed points of a circuit with their stability under each model.

    Parameters
    ----------
    circuit : Circuit
    models : model or sequence of models (names or objects), optional
        Default: every registered model with equations (not the spiking network) that can
        describe the circuit.
    method : {'auto', 'exhaustive', 'homotopy'}
        Search method (see :func:`find_fixed_points`).

    Returns
    -------
    pandas.DataFrame
        One row per fixed point x model x population: ``fixed_point`` (index, by total rate),
        ``model``, ``population``, ``rate_hz``, ``input`` (x*, model units), ``v`` (the model's
        recorded mean voltage: v* for QIF, x* in mV for sigmoid), ``stability``, ``n_unstable``,
        ``leading_re_per_ms`` and ``leading_freq_hz`` (largest-real-part eigenvalue; |Im|/2 pi in
        Hz) and ``eigenvalues`` (tuple of complex, 1/ms).

    Examples
    --------
    >>> import stimsim
    >>> t = stimsim.fixed_points(stimsim.preset("pyramidal"))
    >>> t[["model", "stability"]].to_string(index=False).split()
    ['model', 'stability', 'nmm2', 'stable', 'focus', 'nmm1', 'stable', 'node']
    """
    from ..circuit import Circuit

    if not isinstance(circuit, Circuit):
        raise ValueError(f"circuit must be a stimsim Circuit (e.g. stimsim.preset('pyramidal')), "
                         f"got {type(circuit).__name__}")
    ms = _models_for(circuit, models)
    roots = find_fixed_points(circuit, method=method)
    rows = []
    for i, r in enumerate(roots):
        x = circuit.total_input(r)
        for model in ms:
            lin = linearize(circuit, model, r)
            ev = lin.eigenvalues
            v = model.observe(circuit, lin.state)[model.recorded_index("v")]
            for k, pop in enumerate(circuit.populations):
                rows.append(dict(
                    fixed_point=i, model=model.name, population=pop.name, rate_hz=float(khz_to_hz(r[k])),
                    input=x[k], v=v[k], stability=classify(ev), n_unstable=n_unstable(ev),
                    leading_re_per_ms=ev[0].real, leading_freq_hz=float(abs(rad_per_ms_to_hz(ev[0].imag))),
                    eigenvalues=tuple(ev)))
    return pd.DataFrame(rows)
