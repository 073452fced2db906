"""Continuation parameters: which number of a circuit a branch follows, and how to set it.

A parameter is named by a short string (parsed by :func:`parameter`):

``'I'``, ``'eta_bar'``, ``'delta'``, ``'tau_s'``, ``'tau_m'``
    that population parameter in every population (QIF units for I, eta_bar, delta; ms for the
    time constants);
``'I[E]'``
    the same in population ``E`` only;
``'J'`` / ``'J[E,I]'``
    the self-coupling of a one-population circuit / the entry J[post=E, pre=I];
``'tau_s/tau_m'`` / ``'tau_s/tau_m[E]'``
    the ratio of synaptic to membrane time constant, set by changing tau_s at fixed tau_m (the
    axis along which NMM2 tends to NMM1, Clusella et al. 2023);
``'field'`` / ``'field[E]'``
    a DC field, V/m, entering as the constant input gain_k * E (gain = lambda / scale from
    :class:`stimsim.coupling.FieldCoupling`, models.md M6) on top of the circuit's own I.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..circuit import POPULATION_PARAMETERS
from ..errors import InputError, unknown_name_error

#: population parameters that may be continued, with their units
CONTINUABLE = {"I": "QIF units", "eta_bar": "QIF units", "delta": "QIF units", "tau_s": "ms",
               "tau_m": "ms", "J": "QIF units", "tau_s/tau_m": "dimensionless", "field": "V/m"}
#: parameters that must stay > 0
_POSITIVE = {"delta", "tau_s", "tau_m", "tau_s/tau_m"}

_PATTERN = re.compile(r"^\s*([A-Za-z_/]+)\s*(?:\[\s*([^\]]*)\])?\s*$")


@dataclass(frozen=True)
class Parameter:
    """One continuation parameter of a circuit.

    Parameters
    ----------
    kind : str
        One of :data:`CONTINUABLE`.
    populations : tuple of str
        Populations it acts on (empty: all of them); for ``J``, the pair (post, pre).
    gains : tuple of float or None
        For ``kind='field'``: model input units per V/m, per population.
    """

    kind: str
    populations: tuple = ()
    gains: tuple = None

    @property
    def label(self):
        """The string this parameter was parsed from, e.g. ``'I[E]'``."""
        return self.kind + (f"[{','.join(self.populations)}]" if self.populations else "")

    @property
    def unit(self):
        return CONTINUABLE[self.kind]

    @property
    def positive(self):
        return self.kind in _POSITIVE

    def value(self, circuit):
        """The parameter's current value in ``circuit`` (the first population's when it acts on several)."""
        k = self._indices(circuit)
        if self.kind == "J":
            return float(circuit.J[k[0], k[1]])
        if self.kind == "field":
            return 0.0
        if self.kind == "tau_s/tau_m":
            return float(circuit.vector("tau_s")[k[0]] / circuit.vector("tau_m")[k[0]])
        return float(circuit.vector(self.kind)[k[0]])

    def apply(self, circuit, value):
        """A copy of ``circuit`` with this parameter set to ``value``."""
        value = float(value)
        names = [circuit.names[i] for i in self._indices(circuit)]
        if self.kind == "J":
            post, pre = names
            return circuit.replace(J={(post, pre): value})
        if self.kind == "field":
            I = circuit.vector("I")
            gains = np.asarray(self.gains, dtype=float)
            return circuit.replace(I={n: float(I[circuit.index(n)] + gains[circuit.index(n)] * value) for n in names})
        if self.kind == "tau_s/tau_m":
            tm = circuit.vector("tau_m")
            return circuit.replace(tau_s={n: value * float(tm[circuit.index(n)]) for n in names})
        return circuit.replace(**{self.kind: {n: value for n in names}})

    def check_value(self, value, what="value"):
        """Raise InputError when ``value`` is not admissible for this parameter."""
        if not np.isfinite(value) or (self.positive and value <= 0):
            allowed = "> 0" if self.positive else "finite"
            raise InputError(f"{what} of continuation parameter {self.label!r} must be {allowed}, got {value!r}")

    def _indices(self, circuit):
        if self.kind == "J":
            if self.populations:
                return [circuit.index(self.populations[0]), circuit.index(self.populations[1])]
            return [0, 0]
        if self.populations:
            return [circuit.index(n) for n in self.populations]
        return list(range(circuit.n_populations))


def parameter(spec, circuit, coupling=None):
    """Parse a parameter name (module docstring) for ``circuit``; a Parameter is returned as is.

    Parameters
    ----------
    spec : str or Parameter
    circuit : Circuit
    coupling : stimsim.coupling.FieldCoupling, optional
        Field coupling for ``'field'`` (default: ``FieldCoupling()``, lambda 0.12 mm for populations
        that are not inhibitory).

    Raises
    ------
    stimsim.errors.InputError
        Unknown parameter, unknown population, or ``'J'`` without (post, pre) for several populations.

    Examples
    --------
    >>> import stimsim
    >>> from stimsim.continuation import parameter
    >>> p = parameter("J[E,I]", stimsim.preset("ping"))
    >>> p.kind, p.populations
    ('J', ('E', 'I'))
    """
    if isinstance(spec, Parameter):
        return spec
    if not isinstance(spec, str):
        raise InputError(f"continuation parameter must be a name such as 'I' or 'J[E,I]', got {spec!r}")
    m = _PATTERN.match(spec)
    if not m:
        raise InputError(f"continuation parameter {spec!r} is not of the form NAME or NAME[POP] "
                         f"(NAME one of {sorted(CONTINUABLE)})")
    kind, pops = m.group(1), m.group(2)
    if kind not in CONTINUABLE:
        raise InputError(str(unknown_name_error("continuation parameter", kind, CONTINUABLE)))
    pops = tuple(p.strip() for p in pops.split(",")) if pops else ()
    try:
        for name in pops:
            circuit.index(name)
    except ValueError as exc:
        raise InputError(f"continuation parameter {spec!r}: {exc}") from None
    if kind == "J":
        if pops and len(pops) != 2:
            raise InputError(f"continuation parameter {spec!r}: J takes two populations J[post,pre]")
        if not pops and circuit.n_populations != 1:
            raise InputError(f"continuation parameter 'J' is ambiguous for {circuit.n_populations} "
                             f"populations; name the entry, e.g. 'J[{circuit.names[0]},{circuit.names[-1]}]'")
    elif kind in POPULATION_PARAMETERS or kind == "tau_s/tau_m":
        pass
    gains = None
    if kind == "field":
        from ..coupling import FieldCoupling

        gains = tuple(float(g) for g in (coupling or FieldCoupling()).gains(circuit))
        idx = [circuit.index(n) for n in pops] if pops else range(circuit.n_populations)
        if not any(gains[i] != 0 for i in idx):
            raise InputError(f"continuation parameter {spec!r}: the field reaches no population "
                             "(lambda_mm = 0 for all of them); give a FieldCoupling with lambda_mm > 0")
    return Parameter(kind, pops, gains)
