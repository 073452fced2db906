"""Field-to-input coupling of each population (models.md M6).

Input term of population k for a weak uniform field E(t) (V/m)::

    I_field,k(t) = lambda_k * E(t) / scale_k        (lambda in mm = mV per V/m; scale in mV per unit)

It enters NMM2 in the v equation and NMM1 inside the transfer function, i.e. as part of I(t).
Sign convention: E > 0 points into the cortex (surface -> white matter, as under an anode) and
depolarizes pyramidal somata (models.md M6; Bikson et al., J. Physiol. 557, 175-190, 2004; Radman
et al., Brain Stimul. 2, 215-228, 2009).

lambda E is a membrane polarization (mV) but the QIF model takes it as an input current, so the
scale that turns one into the other depends on the operating point (models.md M6). A single QIF
neuron tau_m dV/dt = V^2 + eta + I with eta < 0 rests at V = -sqrt(-eta - I), so dV/dI =
1 / (2 sqrt(-eta)) at I = 0; for a population the mean voltage v* = -Delta / (2 pi tau_m r*) moves
by dv*/dx = |v*| / (2 sqrt(x*^2 + Delta^2)) per unit of input with the synaptic input held fixed
(:func:`mean_voltage_sensitivity`). :func:`operating_point_scale` and
:meth:`FieldCoupling.calibrated` use it so that lambda E moves the mean voltage by lambda E mV at a
fixed point; the default scale (``DEFAULT_QIF_SCALE_MV``) is a fixed modelling choice instead.

Default polarization length: ``DEFAULT_LAMBDA_MM`` for populations that are not inhibitory and
``DEFAULT_INHIBITORY_LAMBDA_MM`` = 0 for inhibitory ones (:func:`inhibitory_populations`: every
outgoing coupling J[:, k] <= 0 and at least one < 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import check_nonnegative, check_positive

#: polarization length of pyramidal somata, mm: CA1, Bikson et al. 2004 (0.12 +- 0.05 mm)
DEFAULT_LAMBDA_MM = 0.12
#: polarization length given by default to inhibitory populations, mm: 0, i.e. their somatic
#: polarization is neglected (interneurons are less sensitive than pyramidal cells: Radman et al. 2009)
DEFAULT_INHIBITORY_LAMBDA_MM = 0.0
#: mV per QIF input unit used when no scale is given (docs/models.md M6; a modelling choice, see there)
DEFAULT_QIF_SCALE_MV = 10.0
#: mV per QIF *voltage* unit assumed by the operating-point calibration: a QIF neuron with eta = -1
#: rests at v = -1 and fires past v = +1, a 2-unit gap mapped onto ~20 mV (docs/models.md M6)
DEFAULT_VOLTAGE_SCALE_MV = 10.0
#: mV per input unit of a sigmoid (Jansen-Rit) population, whose input is already in mV
DEFAULT_SIGMOID_SCALE_MV = 1.0


def default_scale(pop):
    return DEFAULT_QIF_SCALE_MV if pop.is_qif else DEFAULT_SIGMOID_SCALE_MV


def inhibitory_populations(circuit):
    """(P,) bool: population k is inhibitory when every outgoing coupling J[:, k] (k as presynaptic
    population, all targets including itself) is <= 0 and at least one is < 0.

    The circuit carries no cell-type label, so the sign of a population's outgoing projections is
    what identifies it. A population with no outgoing coupling, or with projections of both signs,
    counts as not inhibitory (it gets the pyramidal default).
    """
    J = np.asarray(circuit.J, dtype=float)
    return np.all(J <= 0.0, axis=0) & np.any(J < 0.0, axis=0)


def default_lambdas_mm(circuit):
    """(P,) default polarization length, mm: 0 for inhibitory populations, 0.12 mm otherwise."""
    return np.where(inhibitory_populations(circuit), DEFAULT_INHIBITORY_LAMBDA_MM, DEFAULT_LAMBDA_MM)


def mean_voltage_sensitivity(circuit, rates_khz):
    """(P,) dv*/dx at a fixed point with the synaptic input held fixed (QIF units per input unit).

    For a QIF population with total input x* and rate r* (models.md M3), v* = -Delta / (2 pi tau_m
    r*) and r* = Phi(x*), so dv*/dx = |v*| / (2 sqrt(x*^2 + Delta^2)); for Delta -> 0 and x* < 0 it
    is 1 / (2 sqrt(-x*)), the resting single neuron. Sigmoid populations: 1 (their v is x in mV).
    """
    r = np.asarray(rates_khz, dtype=float)
    x = circuit.total_input(r)
    out = np.ones(circuit.n_populations)
    for k, pop in enumerate(circuit.populations):
        if pop.is_qif:
            v = pop.delta / (2.0 * np.pi * pop.tau_m * r[k])
            out[k] = v / (2.0 * np.hypot(x[k], pop.delta))
    return out


def operating_point_scale(circuit, voltage_scale_mv=DEFAULT_VOLTAGE_SCALE_MV, fixed_point=0):
    """(P,) mV per model input unit at which lambda E moves each population's mean voltage by
    lambda E mV at a fixed point (synaptic input held fixed; models.md M6).

    ``voltage_scale_mv`` (mV per QIF voltage unit) times :func:`mean_voltage_sensitivity`; sigmoid
    populations get 1 mV per unit. ``fixed_point`` indexes ``stimsim.dynamics.find_fixed_points``
    (0: the lowest-rate one).
    """
    from .dynamics import find_fixed_points

    vs = check_positive("voltage_scale_mv", voltage_scale_mv)
    r = find_fixed_points(circuit)[fixed_point]
    sens = mean_voltage_sensitivity(circuit, r)
    return np.array([vs * s if p.is_qif else DEFAULT_SIGMOID_SCALE_MV
                     for p, s in zip(circuit.populations, sens)])


@dataclass(frozen=True)
class FieldCoupling:
    """Per-population polarization length (mm) and voltage scale (mV per model input unit).

    Parameters
    ----------
    lambda_mm : None, float or dict {population: float}
        Polarization length, mm (>= 0; 0 = the population does not feel the field). None (default):
        ``DEFAULT_LAMBDA_MM`` for every population that is not inhibitory, 0 for inhibitory ones
        (:func:`inhibitory_populations`); a dict fills missing populations the same way.
    scale_mv_per_unit : None, float or dict {population: float}
        Voltage scale, mV per model input unit (> 0); None uses the defaults per transfer kind.
    """

    lambda_mm: object = None
    scale_mv_per_unit: object = None

    def _per_population(self, circuit, value, defaults, check, what):
        out = np.empty(circuit.n_populations)
        for k, pop in enumerate(circuit.populations):
            if isinstance(value, dict):
                unknown = set(value) - set(circuit.names)
                if unknown:
                    circuit.index(sorted(unknown)[0])  # raises a helpful error
                v = value.get(pop.name, defaults[k])
            else:
                v = defaults[k] if value is None else value
            out[k] = check(f"{what} of population {pop.name!r}", v)
        return out

    def lambdas_mm(self, circuit):
        return self._per_population(circuit, self.lambda_mm, default_lambdas_mm(circuit),
                                    check_nonnegative, "lambda_mm")

    def scales_mv(self, circuit):
        return self._per_population(circuit, self.scale_mv_per_unit,
                                    [default_scale(p) for p in circuit.populations],
                                    check_positive, "scale_mv_per_unit")

    def gains(self, circuit):
        """(P,) model input units per V/m: lambda / scale (models.md M6)."""
        return self.lambdas_mm(circuit) / self.scales_mv(circuit)

    def describe(self, circuit):
        """{population: {lambda_mm, scale_mv_per_unit, gain_per_v_per_m}} for metadata."""
        lam, sc = self.lambdas_mm(circuit), self.scales_mv(circuit)
        return {n: dict(lambda_mm=float(l), scale_mv_per_unit=float(s), input_per_v_per_m=float(l / s))
                for n, l, s in zip(circuit.names, lam, sc)}

    @classmethod
    def calibrated(cls, circuit, lambda_mm=None, voltage_scale_mv=DEFAULT_VOLTAGE_SCALE_MV, fixed_point=0):
        """A coupling whose scales come from :func:`operating_point_scale` at a fixed point of ``circuit``.

        With it, a static field E moves the mean voltage of each population by lambda E mV (at
        ``voltage_scale_mv`` mV per QIF voltage unit) to first order, with the synaptic input held
        fixed. The scales hold for that circuit and fixed point only.
        """
        scales = operating_point_scale(circuit, voltage_scale_mv, fixed_point)
        return cls(lambda_mm=lambda_mm, scale_mv_per_unit=dict(zip(circuit.names, scales.tolist())))
