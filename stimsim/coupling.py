"""Field-to-input coupling of each population (models.md M6).

Input term of population k for a weak uniform field E(t) (V/m)::

    I_field,k(t) = lambda_k * E(t) / scale_k        (lambda in mm = mV per V/m; scale in mV per unit)

It enters NMM2 in the v equation and NMM1 inside the transfer function, i.e. as part of I(t).
Sign convention: E > 0 points into the cortex (surface -> white matter, as under an anode) and
depolarizes pyramidal somata (models.md M6; Bikson et al., J. Physiol. 557, 175-190, 2004; Radman et al., Brain Stimul. 2, 215-228, 2009).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import check_nonnegative, check_positive

#: polarization length of pyramidal somata, mm: CA1, Bikson et al. 2004 (0.12 +- 0.05 mm)
DEFAULT_LAMBDA_MM = 0.12
#: mV per QIF unit: a QIF neuron with eta = -1 rests at v = -1 and fires past v = +1, a 2-unit gap
#: mapped onto the ~20 mV rest-to-threshold distance of cortical pyramidal cells (docs/models.md M6; a modelling choice, see there)
DEFAULT_QIF_SCALE_MV = 10.0
#: mV per input unit of a sigmoid (Jansen-Rit) population, whose input is already in mV
DEFAULT_SIGMOID_SCALE_MV = 1.0


def default_scale(pop):
    return DEFAULT_QIF_SCALE_MV if pop.is_qif else DEFAULT_SIGMOID_SCALE_MV


@dataclass(frozen=True)
class FieldCoupling:
    """Per-population polarization length (mm) and voltage scale (mV per model input unit).

    Parameters
    ----------
    lambda_mm : float or dict {population: float}
        Polarization length, mm (>= 0; 0 = the population does not feel the field).
    scale_mv_per_unit : None, float or dict {population: float}
        Voltage scale, mV per model input unit (> 0); None uses the defaults per transfer kind.
    """

    lambda_mm: object = DEFAULT_LAMBDA_MM
    scale_mv_per_unit: object = None

    def _per_population(self, circuit, value, default, check, what):
        out = np.empty(circuit.n_populations)
        for k, pop in enumerate(circuit.populations):
            if isinstance(value, dict):
                unknown = set(value) - set(circuit.names)
                if unknown:
                    circuit.index(sorted(unknown)[0])  # raises a helpful error
                v = value.get(pop.name, default(pop))
            else:
                v = default(pop) if value is None else value
            out[k] = check(f"{what} of population {pop.name!r}", v)
        return out

    def lambdas_mm(self, circuit):
        return self._per_population(circuit, self.lambda_mm, lambda p: DEFAULT_LAMBDA_MM,
                                    check_nonnegative, "lambda_mm")

    def scales_mv(self, circuit):
        return self._per_population(circuit, self.scale_mv_per_unit, default_scale,
                                    check_positive, "scale_mv_per_unit")

    def gains(self, circuit):
        """(P,) model input units per V/m: lambda / scale (models.md M6)."""
        return self.lambdas_mm(circuit) / self.scales_mv(circuit)

    def describe(self, circuit):
        """{population: {lambda_mm, scale_mv_per_unit, gain_per_v_per_m}} for metadata."""
        lam, sc = self.lambdas_mm(circuit), self.scales_mv(circuit)
        return {n: dict(lambda_mm=float(l), scale_mv_per_unit=float(s), input_per_v_per_m=float(l / s))
                for n, l, s in zip(circuit.names, lam, sc)}
