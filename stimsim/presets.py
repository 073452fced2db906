"""Named circuits (models.md M4, M5, M7) with documented, overridable parameters.

``preset(name, **overrides)``: preset-level parameters (e.g. Jansen-Rit's ``p``) are arguments of
the factory; any population parameter (``tau_m``, ``tau_s``, ``delta``, ``eta_bar``, ``I``, ...) and
``J`` may be overridden as in :meth:`stimsim.circuit.Circuit.replace`.
"""
from __future__ import annotations

import inspect

import numpy as np

from .circuit import POPULATION_PARAMETERS, Circuit, Population
from .errors import check_finite, unknown_name_error


def interneurons(I=30.0):
    """Inhibitory interneuron population (ING), models.md M7 illustrative preset.

    tau_m = 7.5 ms, tau_s = 2 ms, Delta = 1, eta_bar = 0, J = -20; constant input ``I`` (QIF
    units, swept over [-20, 100] in M7). At the default I = 30 NMM2 oscillates (ING rhythm) while
    NMM1 relaxes to the fixed point (M7.1).
    """
    return Circuit.single(J=-20.0, name="interneurons", population="I", tau_m=7.5, tau_s=2.0,
                          delta=1.0, eta_bar=0.0, I=check_finite("I", I))


def pyramidal(J=8.0, eta_bar=1.0):
    """Excitatory pyramidal population, models.md M7 illustrative preset.

    tau_m = 20 ms, tau_s = 10 ms, Delta = 1; eta_bar in [-1, 5] and J in [0, 12] (M7). At the
    defaults the unique fixed point is a stable focus of NMM2 (it resonates, M7.2) and a stable
    node of NMM1.
    """
    return Circuit.single(J=check_finite("J", J), name="pyramidal", population="P", tau_m=20.0,
                          tau_s=10.0, delta=1.0, eta_bar=check_finite("eta_bar", eta_bar))


def ping(eta_bar=2.0, coupling=15.0):
    """Excitatory-inhibitory PING circuit, models.md M5 published parameter set.

    E: tau_m = 15 ms, AMPA tau_s = 10 ms; I: tau_m = 7.5 ms, GABA tau_s = 2.5 ms; Delta = 1;
    J = coupling x [[EE 1, EI -1], [IE 1, II -2]] (J[post, pre]); eta_bar common (Hopf near 1,
    gamma near 55 Hz). At the default eta_bar = 2 NMM2 shows a gamma rhythm.
    """
    c = check_finite("coupling", coupling)
    e = check_finite("eta_bar", eta_bar)
    pops = (Population("E", tau_m=15.0, tau_s=10.0, delta=1.0, eta_bar=e),
            Population("I", tau_m=7.5, tau_s=2.5, delta=1.0, eta_bar=e))
    J = c * np.array([[1.0, -1.0], [1.0, -2.0]])
    return Circuit(pops, J=J, name="ping")


def jansen_rit(p=220.0, C=135.0, A=3.25, B=22.0, a=100.0, b=50.0, e0=2.5, r0=0.56, v0=6.0):
    """Classic Jansen-Rit circuit (Jansen & Rit 1995; models.md M4) as sigmoid populations.

    Populations P (pyramidal), E (excitatory interneurons), I (inhibitory interneurons). With
    s the unit-area alpha-filtered rate (kHz), the PSPs are y0 = A tau_e s_P, y1 = A tau_e
    (C2 s_E + p), y2 = B tau_i C4 s_I (tau_e = 1/a, tau_i = 1/b), so that
    x_P = y1 - y2, x_E = C1 y0, x_I = C3 y0 and J = [[0, A C2 tau_e, -B C4 tau_i],
    [C1 A tau_e, 0, 0], [C3 A tau_e, 0, 0]] (mV per kHz); the constant drive p (s^-1) enters as
    I_P = A tau_e p (mV). C1..C4 = C, 0.8 C, 0.25 C, 0.25 C; S(x) = 2 e0 / (1 + exp(r0 (v0 - x))).
    Rates p, a, b, e0 in s^-1, A, B, v0 in mV, r0 in 1/mV. NMM1 only (no exact mean field).
    """
    vals = {k: check_finite(k, v) for k, v in dict(p=p, C=C, A=A, B=B, a=a, b=b, e0=e0, r0=r0, v0=v0).items()}
    for k in ("C", "A", "B", "a", "b", "e0", "r0"):
        if vals[k] <= 0:
            raise ValueError(f"jansen-rit parameter {k} must be > 0, got {vals[k]}")
    tau_e = 1000.0 / vals["a"]
    tau_i = 1000.0 / vals["b"]
    C1, C2, C3, C4 = vals["C"], 0.8 * vals["C"], 0.25 * vals["C"], 0.25 * vals["C"]
    A_, B_ = vals["A"], vals["B"]
    sig = dict(transfer="sigmoid", rmax_hz=2.0 * vals["e0"], slope_per_mv=vals["r0"], threshold_mv=vals["v0"])
    pops = (Population("P", tau_s=tau_e, I=A_ * tau_e * vals["p"] / 1000.0, **sig),
            Population("E", tau_s=tau_e, **sig),
            Population("I", tau_s=tau_i, **sig))
    J = np.array([[0.0, A_ * C2 * tau_e, -B_ * C4 * tau_i],
                  [C1 * A_ * tau_e, 0.0, 0.0],
                  [C3 * A_ * tau_e, 0.0, 0.0]])
    return Circuit(pops, J=J, name="jansen-rit")


PRESETS = {"interneurons": interneurons, "pyramidal": pyramidal, "ping": ping, "jansen-rit": jansen_rit}


def preset_parameters(name):
    """{parameter: default} of a preset's own factory arguments."""
    factory = _factory(name)
    return {k: v.default for k, v in inspect.signature(factory).parameters.items()}


def _factory(name):
    if name not in PRESETS:
        raise unknown_name_error("preset", name, PRESETS)
    return PRESETS[name]


def preset(name, **overrides):
    """A named circuit with overrides, e.g. ``preset("pyramidal", J=10, eta_bar=1)``.

    Parameters
    ----------
    name : {'interneurons', 'pyramidal', 'ping', 'jansen-rit'}
    **overrides
        The preset's own arguments (see its docstring), then population parameters
        (scalar or {population: value}) and ``J`` (matrix, scalar for one population, or
        {(post, pre): value}).
    """
    factory = _factory(name)
    own = preset_parameters(name)
    allowed = set(own) | set(POPULATION_PARAMETERS) | {"J"}
    for key in overrides:
        if key not in allowed:
            raise unknown_name_error(f"parameter for preset {name!r}", key, allowed)
    # a per-population dict (e.g. eta_bar={"E": 3}) goes to the populations, not to the factory
    to_factory = {k: v for k, v in overrides.items() if k in own and not isinstance(v, dict)}
    circuit = factory(**to_factory)
    rest = {k: v for k, v in overrides.items() if k not in to_factory}
    return circuit.replace(**rest) if rest else circuit
