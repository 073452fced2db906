"""Populations and circuits of populations (models.md M5).

A :class:`Population` holds the parameters of one QIF (or Jansen-Rit sigmoid) population and of
the synapse its rate drives. A :class:`Circuit` is a tuple of populations, a signed coupling matrix
``J[post, pre]`` and (inside each population) a constant external input ``I``.

Input of population k (models.md M2, M4, M5)::

    x_k = eta_bar_k + I_k(t) + w_k * sum_l J[k, l] s_l,   w_k = tau_m,k (QIF), 1 (sigmoid)

so that for QIF populations the recurrent term is tau_m J s as in the MPR equations, and for
sigmoid populations J is in mV per kHz of synaptic activation (Jansen-Rit).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .errors import check_finite, check_positive, unknown_name_error
from .transfer import TRANSFER_KINDS
from .units import hz_to_khz

#: population parameters a user may set, with units (for messages, docs and ``stimsim presets``)
POPULATION_PARAMETERS = {
    "tau_m": "ms, membrane time constant (QIF)",
    "tau_s": "ms, time constant of the alpha synapse driven by this population",
    "delta": "QIF units, half-width of the Lorentzian of excitabilities (QIF)",
    "eta_bar": "QIF units (mV for sigmoid), centre of the excitabilities",
    "I": "QIF units (mV for sigmoid), constant external input",
    "transfer": "'qif' (exact NMM2 and Phi) or 'sigmoid' (Jansen-Rit, NMM1 only)",
    "rmax_hz": "Hz, sigmoid maximum rate 2 e0",
    "slope_per_mv": "1/mV, sigmoid slope r0",
    "threshold_mv": "mV, sigmoid half-activation v0",
}


def canonical(value):
    """A platform-independent text of a parameter value (floats exactly, via ``float.hex``)."""
    if isinstance(value, (float, np.floating)) or (isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        return float(value).hex()
    return repr(value)


@dataclass(frozen=True)
class Population:
    """One population and the synapse its rate drives.

    Parameters
    ----------
    name : str
        Label used in tables and protocol files.
    tau_m : float
        Membrane time constant, ms (QIF populations).
    tau_s : float
        Time constant of the second-order (alpha) synapse this population's rate drives, ms.
    delta : float
        Half-width of the Lorentzian distribution of excitabilities, QIF units (> 0).
    eta_bar : float
        Centre of the excitabilities, QIF units (mV for sigmoid populations).
    I : float
        Constant external input, same units as ``eta_bar``.
    transfer : {'qif', 'sigmoid'}
        Static transfer function of NMM1; NMM2 exists only for 'qif'.
    rmax_hz, slope_per_mv, threshold_mv : float
        Sigmoid parameters 2 e0 (Hz), r0 (1/mV), v0 (mV); used only when transfer='sigmoid'.
    """

    name: str = "pop"
    tau_m: float = 10.0
    tau_s: float = 10.0
    delta: float = 1.0
    eta_bar: float = 0.0
    I: float = 0.0
    transfer: str = "qif"
    rmax_hz: float = 5.0
    slope_per_mv: float = 0.56
    threshold_mv: float = 6.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"population name must be a non-empty string, got {self.name!r}")
        if self.transfer not in TRANSFER_KINDS:
            raise unknown_name_error("transfer", self.transfer, TRANSFER_KINDS)
        where = f"population {self.name!r}: "
        for p in ("tau_m", "tau_s", "delta", "rmax_hz", "slope_per_mv"):
            object.__setattr__(self, p, check_positive(where + p, getattr(self, p)))
        for p in ("eta_bar", "I", "threshold_mv"):
            object.__setattr__(self, p, check_finite(where + p, getattr(self, p)))

    @property
    def is_qif(self):
        return self.transfer == "qif"

    @property
    def coupling_factor(self):
        """w_k in x_k = ... + w_k sum_l J[k,l] s_l: tau_m (ms) for QIF, 1 for sigmoid."""
        return self.tau_m if self.is_qif else 1.0

    def replace(self, **changes):
        unknown = set(changes) - set(POPULATION_PARAMETERS) - {"name"}
        if unknown:
            raise unknown_name_error("population parameter", sorted(unknown)[0], POPULATION_PARAMETERS)
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)  # J is an array: identity equality, no hash of the matrix
class Circuit:
    """Populations, their signed coupling J[post, pre] and constant inputs (models.md M5).

    Parameters
    ----------
    populations : tuple of Population
    J : array_like, shape (P, P)
        Signed coupling, ``J[post, pre]``; > 0 excitatory, < 0 inhibitory. QIF units per kHz of
        synaptic activation divided by tau_m (as in the MPR equations); mV per kHz for sigmoid
        targets.
    name : str
        Label (preset name) for tables and metadata.
    """

    populations: tuple
    J: np.ndarray = field(default=None)
    name: str = "circuit"

    def __post_init__(self):
        pops = tuple(self.populations)
        if not pops or not all(isinstance(p, Population) for p in pops):
            raise ValueError("a circuit needs at least one Population")
        names = [p.name for p in pops]
        if len(set(names)) != len(names):
            raise ValueError(f"population names must be unique, got {names}")
        P = len(pops)
        J = np.zeros((P, P)) if self.J is None else np.array(self.J, dtype=float)
        if J.ndim == 0 and P == 1:
            J = J.reshape(1, 1)
        if J.shape != (P, P):
            raise ValueError(f"J must have shape ({P}, {P}) = (post, pre) for {P} populations, got {J.shape}")
        if not np.all(np.isfinite(J)):
            raise ValueError(f"J must be finite, got {J.tolist()}")
        J.setflags(write=False)
        object.__setattr__(self, "populations", pops)
        object.__setattr__(self, "J", J)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def single(cls, J=0.0, name="circuit", population="pop", **params):
        """One population with self-coupling J, e.g. ``Circuit.single(J=10, eta_bar=1, tau_m=20)``."""
        return cls((Population(name=population, **params),), J=[[float(J)]], name=name)

    # --- views --------------------------------------------------------------------------------
    @property
    def n_populations(self):
        return len(self.populations)

    @property
    def names(self):
        return [p.name for p in self.populations]

    @property
    def all_qif(self):
        return all(p.is_qif for p in self.populations)

    def index(self, name):
        try:
            return self.names.index(name)
        except ValueError:
            raise unknown_name_error("population", name, self.names) from None

    def vector(self, param):
        """A population parameter as an array over populations."""
        if param not in POPULATION_PARAMETERS or param == "transfer":
            raise unknown_name_error("population parameter", param, POPULATION_PARAMETERS)
        return np.array([getattr(p, param) for p in self.populations], dtype=float)

    @property
    def effective_coupling(self):
        """K[k, l] = w_k J[k, l] (w_k = tau_m,k for QIF, 1 for sigmoid), the matrix the kernels use."""
        w = np.array([p.coupling_factor for p in self.populations])
        return w[:, None] * self.J

    def transfer_parameters(self):
        """(kinds, p0, p1, p2) per population as the compiled transfer functions take them:
        QIF: (Delta, tau_m ms, unused); sigmoid: (rmax kHz, slope 1/mV, threshold mV)."""
        pops = self.populations
        kinds = np.array([TRANSFER_KINDS[p.transfer] for p in pops], dtype=np.int64)
        p0 = np.array([p.delta if p.is_qif else hz_to_khz(p.rmax_hz) for p in pops])
        p1 = np.array([p.tau_m if p.is_qif else p.slope_per_mv for p in pops])
        p2 = np.array([0.0 if p.is_qif else p.threshold_mv for p in pops])
        return kinds, p0, p1, p2

    def transfer(self, x):
        """T_k(x_k), kHz: each population's static transfer function (Phi, M3, or the sigmoid, M4).

        ``x`` has shape (P,) or (n, P) (inputs in each population's units); the result has its shape.
        """
        from .transfer import rates_many

        x = np.asarray(x, dtype=float)
        return rates_many(*self.transfer_parameters(), np.ascontiguousarray(np.atleast_2d(x))).reshape(x.shape)

    def transfer_slope(self, x):
        """dT_k/dx at x_k, kHz per input unit; shapes as :meth:`transfer`."""
        from .transfer import slopes_many

        x = np.asarray(x, dtype=float)
        return slopes_many(*self.transfer_parameters(), np.ascontiguousarray(np.atleast_2d(x))).reshape(x.shape)

    def total_input(self, rates_khz, extra=0.0):
        """x_k = eta_k + I_k + extra_k + sum_l K[k, l] r_l (M5): the input at synaptic activation s = r."""
        return self.vector("eta_bar") + self.vector("I") + extra + self.effective_coupling @ np.asarray(rates_khz, dtype=float)

    @property
    def fastest_time_scale_ms(self):
        """The smallest of all tau_m (QIF) and tau_s, ms; bounds the admissible step."""
        taus = [p.tau_s for p in self.populations] + [p.tau_m for p in self.populations if p.is_qif]
        return min(taus)

    # --- modification -------------------------------------------------------------------------
    def replace(self, J=None, **params):
        """A copy with parameters changed.

        Population parameters take a scalar (all populations) or a dict {population: value}.
        J takes a full (P, P) matrix, a scalar for a one-population circuit, or a dict
        {(post, pre): value}.
        """
        pops = list(self.populations)
        for key, value in params.items():
            if key not in POPULATION_PARAMETERS:
                raise unknown_name_error("parameter", key, list(POPULATION_PARAMETERS) + ["J"])
            if isinstance(value, dict):
                for pop_name, v in value.items():
                    k = self.index(pop_name)
                    pops[k] = pops[k].replace(**{key: v})
            else:
                pops = [p.replace(**{key: value}) for p in pops]
        newJ = np.array(self.J)
        if J is not None:
            if isinstance(J, dict):
                for pair, v in J.items():
                    if not (isinstance(pair, tuple) and len(pair) == 2):
                        raise ValueError(f"J dict keys must be (post, pre) population names, got {pair!r}")
                    newJ[self.index(pair[0]), self.index(pair[1])] = check_finite(f"J[{pair}]", v)
            elif np.ndim(J) == 0:
                if self.n_populations != 1:
                    raise ValueError(
                        f"a scalar J is ambiguous for {self.n_populations} populations; "
                        "give a (post, pre) matrix or a dict {(post, pre): value}")
                newJ = np.array([[check_finite("J", J)]])
            else:
                newJ = np.array(J, dtype=float)
        return Circuit(tuple(pops), J=newJ, name=self.name)

    def content_key(self):
        """Text of everything that determines the circuit's dynamics: every population field
        (floats exactly, via ``float.hex``; population names included, since they label the
        results) and J; not the circuit's name.

        Two circuits with equal keys give identical results under every model.
        """
        pops = [[f.name + "=" + canonical(getattr(p, f.name)) for f in dataclasses.fields(p)] for p in self.populations]
        J = [canonical(x) for x in np.asarray(self.J, dtype=float).ravel()]
        return repr((pops, J))

    def content_hash(self):
        """sha256 (hex) of :meth:`content_key`: a stable content address of the circuit.

        Examples
        --------
        >>> import stimsim
        >>> a = stimsim.preset("pyramidal")
        >>> a.content_hash() == a.replace(J=8.0).content_hash() != a.replace(J=8.0 + 1e-15).content_hash()
        True
        """
        import hashlib

        return hashlib.sha256(self.content_key().encode()).hexdigest()

    def describe(self):
        """A tidy table of the population parameters (one row per population)."""
        import pandas as pd

        rows = []
        for k, p in enumerate(self.populations):
            row = dataclasses.asdict(p)
            for l, q in enumerate(self.populations):
                row[f"J_from_{q.name}"] = self.J[k, l]
            rows.append(row)
        return pd.DataFrame(rows)
