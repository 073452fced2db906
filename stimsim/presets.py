"""Named circuits (models.md M4, M5, M7) with documented, overridable parameters.

``preset(name, **overrides)``: preset-level parameters (e.g. Jansen-Rit's ``p``) are arguments of
the factory; any population parameter (``tau_m``, ``tau_s``, ``delta``, ``eta_bar``, ``I``, ...) and
``J`` may be overridden as in :meth:`stimsim.circuit.Circuit.replace`.
"""
from __future__ import annotations

import inspect

import numpy as np

from .circuit import POPULATION_PARAMETERS, Circuit, Population
from .errors import InputError, check_finite, unknown_name_error


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
    node of NMM1. It fires at 46 Hz there, and its 47 Hz resonance is that firing rate (M3).
    """
    return Circuit.single(J=check_finite("J", J), name="pyramidal", population="P", tau_m=20.0,
                          tau_s=10.0, delta=1.0, eta_bar=check_finite("eta_bar", eta_bar))


def pyramidal_physiological(rate_hz=10.0, J=1.0, delta=0.1):
    """Pyramidal population firing at ``rate_hz`` (default 10 Hz), resonating near it (models.md M3).

    tau_m = 20 ms, tau_s = 10 ms as ``pyramidal``; self-coupling J and heterogeneity Delta =
    ``delta``; eta_bar is set so that the fixed point fires at exactly ``rate_hz``: with
    a = pi tau_m r*, x* = a^2 - (Delta / (2 a))^2 (the inverse of Phi, M3) and
    eta_bar = x* - tau_m J r*. At the defaults NMM2's rate gain has a peak at 9.3 Hz (NMM1: none);
    the peak needs a small Delta (M3: below 2 pi^2 tau_m^2 r*^2 = 0.79 without coupling, less with J).
    Parameter values chosen for stimsim, not taken from a publication.
    """
    r = check_finite("rate_hz", rate_hz) / 1000.0
    J = check_finite("J", J)
    delta = check_finite("delta", delta)
    if r <= 0 or delta <= 0:
        raise InputError(f"pyramidal-physiological needs rate_hz > 0 and delta > 0, got {rate_hz}, {delta}")
    tau_m = 20.0
    a = np.pi * tau_m * r
    eta_bar = a * a - (delta / (2.0 * a)) ** 2 - tau_m * J * r
    return Circuit.single(J=J, name="pyramidal-physiological", population="P", tau_m=tau_m, tau_s=10.0,
                          delta=delta, eta_bar=float(eta_bar))


def ping():
    """Excitatory-inhibitory PING circuit: the gamma rhythm needs the E -> I -> E loop (models.md M5).

    Structure: two QIF mean-field populations E and I coupled through their synaptic activations,
    the E-I firing-rate model of Keeley et al. (J. Neurophysiol. 121, 2181, 2019), here with the
    second-order synapses of M2. Values chosen for stimsim (not from a publication): E tau_m = 10 ms,
    AMPA-like tau_s = 2 ms, eta_bar = 12.5; I tau_m = 5 ms, GABA_A-like tau_s = 5 ms, eta_bar = 2;
    Delta = 1; J[post, pre] = [[EE 5, EI -25], [IE 100, II -15]]. NMM2: unstable focus (37 Hz), limit
    cycle at 33 Hz; it stops when E -> I or I -> E is cut, and neither population oscillates with the
    other frozen at the fixed point. NMM1 relaxes to the fixed point.
    """
    pops = (Population("E", tau_m=10.0, tau_s=2.0, delta=1.0, eta_bar=12.5),
            Population("I", tau_m=5.0, tau_s=5.0, delta=1.0, eta_bar=2.0))
    J = np.array([[5.0, -25.0], [100.0, -15.0]])
    return Circuit(pops, J=J, name="ping")


def ing_ei(eta_bar=2.0, coupling=15.0):
    """E-I circuit whose gamma rhythm is ING: the I population oscillates on its own (models.md M5).

    E: tau_m = 15 ms, tau_s = 10 ms; I: tau_m = 7.5 ms, tau_s = 2.5 ms; Delta = 1;
    J = coupling x [[EE 1, EI -1], [IE 1, II -2]] (J[post, pre]); eta_bar common. Values of an
    unreviewed preprint (Ruffini et al., models.md References), formerly shipped as ``ping``. At the
    defaults NMM2 oscillates at 55.6 Hz; with E frozen at the fixed point I alone is an unstable focus
    at 55 Hz, and J_II = 0 removes the rhythm. Its E synapse is slower than its I synapse.
    """
    c = check_finite("coupling", coupling)
    e = check_finite("eta_bar", eta_bar)
    pops = (Population("E", tau_m=15.0, tau_s=10.0, delta=1.0, eta_bar=e),
            Population("I", tau_m=7.5, tau_s=2.5, delta=1.0, eta_bar=e))
    J = c * np.array([[1.0, -1.0], [1.0, -2.0]])
    return Circuit(pops, J=J, name="ing-ei")


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


PRESETS = {"interneurons": interneurons, "pyramidal": pyramidal, "pyramidal-physiological": pyramidal_physiological,
           "ping": ping, "ing-ei": ing_ei, "jansen-rit": jansen_rit}


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
    name : {'interneurons', 'pyramidal', 'pyramidal-physiological', 'ping', 'ing-ei', 'jansen-rit'}
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
