"""Small-signal (linear) frequency response at a fixed point (models.md M8; Åström & Murray, Feedback Systems, Princeton UP 2008, ch. 9).

For the model written as ``x' = F(x) + b u(t)`` with output ``y = c.x + d u``, at a fixed point x*
with Jacobian ``A = dF/dx``::

    H(omega) = c (i omega I - A)^-1 b + d                                     (M8)

u is the drive in *drive units* (V/m of field, or model input units): population k receives
``gain_k * u`` (model input units; ``FieldCoupling.gains`` for fields, 1 for currents). Where the
drive enters (models.md M2, M4, M6):

- NMM2 (state r, v, s, z per population): in the v equation, ``tau_m dv/dt = ... + I(t)``, so
  ``b[v_k] = gain_k / tau_m,k``.
- NMM1 (state s, z per population): inside the transfer function, ``r_k = T_k(x_k + gain_k u)``,
  so ``b[z_k] = T'_k gain_k / tau_s,k`` (``tau_s dz/dt = r - 2z - s``), and the rate has a direct
  feed-through ``delta r_k = T'_k (sum_l K[k,l] delta s_l + gain_k u)`` (K = effective coupling).

Outputs: ``'rate'`` (Hz; the equations' kHz times 1000) or ``'v'`` (mean voltage, QIF units; for
NMM1 the frozen-input v* = -Delta/(2 pi tau_m r) of M3, so delta v = Delta/(2 pi tau_m r^2) delta r;
for sigmoid populations v is the input x, mV).

H is evaluated by one batched linear solve over all frequencies (no eigendecomposition: NMM1's
critically damped synapse makes A defective).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import models as _models
from ..dynamics import classify, find_fixed_points, is_stable, linearize
from ..errors import unknown_name_error
from ..units import hz_to_rad_per_ms, khz_to_hz

OUTPUTS = ("rate", "v")
#: recorded variable of each output
_OUTPUT_VARIABLE = {"rate": "r", "v": "v"}


@dataclass(frozen=True)
class StateSpace:
    """Linearised input-output system at a fixed point (time in ms).

    ``A`` (n, n) 1/ms, ``b`` (n,) state units per ms per drive unit, ``c`` (n,) output units per
    state unit, ``d`` output units per drive unit (direct feed-through), ``rates_khz`` the fixed
    point, ``eigenvalues`` of A (1/ms), ``stability`` (:func:`stimsim.dynamics.classify` label),
    ``output_rate_hz`` the output population's rate at the fixed point (Hz).
    """

    A: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: float
    rates_khz: np.ndarray
    eigenvalues: np.ndarray
    stability: str
    output_rate_hz: float = float("nan")

    @property
    def stable(self):
        """Asymptotically stable, by the one convention of :func:`stimsim.dynamics.is_stable`."""
        return is_stable(self.eigenvalues)

    @property
    def slowest_decay_ms(self):
        """1 / |Re lambda| of the least damped mode, ms (the settle time scale of a lock-in)."""
        return 1.0 / abs(float(np.max(self.eigenvalues.real))) if self.stable else math.inf

    def transfer(self, freqs_hz):
        """Complex H at ``freqs_hz`` (Hz): output units per drive unit (M8)."""
        return transfer_function(self, freqs_hz)


def select_fixed_point(circuit, model, fixed_point="stable", roots=None):
    """Rates (P,) kHz of the fixed point to linearise about.

    ``fixed_point``: an index into ``find_fixed_points`` (sorted by total rate), or 'stable' for
    the lowest-rate fixed point that is stable under ``model`` (the lowest-rate one if none is).
    ``roots`` (n, P) kHz: fixed points already found for this circuit (skips the search).
    """
    roots = find_fixed_points(circuit) if roots is None else roots
    if isinstance(fixed_point, str):
        if fixed_point != "stable":
            raise ValueError(f"fixed_point must be 'stable' or an integer index, got {fixed_point!r}")
        for r in roots:
            if linearize(circuit, model, r).stable:
                return r
        return roots[0]
    if int(fixed_point) != fixed_point or not 0 <= fixed_point < len(roots):
        raise ValueError(f"fixed_point={fixed_point!r} must be 'stable' or an index in [0, {len(roots) - 1}] "
                         f"({len(roots)} fixed point(s) found)")
    return roots[int(fixed_point)]


def state_space(circuit, model, input_gain, output_population, output="rate", fixed_point="stable", roots=None):
    """Build the linearised (A, b, c, d) of M8 for one circuit.

    The model supplies every piece: A = d rhs/dy, b = (d rhs/du) gain, and (c, d) from the
    derivative of the recorded output with respect to the state and the input.

    Parameters
    ----------
    circuit : Circuit
    model : str or Model
    input_gain : array_like (P,)
        Model input units per drive unit received by each population (0 = not driven).
    output_population : str
        Population whose rate (or mean voltage) is the output.
    output : {'rate', 'v'}
        Rate in Hz, or the model's mean-voltage read-out.
    fixed_point : 'stable' or int
        See :func:`select_fixed_point`.
    roots : ndarray (n, P), optional
        Fixed points of the circuit already found (``find_fixed_points``), to avoid a new search.

    Returns
    -------
    StateSpace

    Examples
    --------
    >>> import stimsim
    >>> ss = state_space(stimsim.preset("pyramidal"), "nmm2", [1.0], "P")
    >>> ss.stability
    'stable focus'
    """
    model = _models.get(model)
    if output not in OUTPUTS:
        raise unknown_name_error("output", output, OUTPUTS)
    model.check_supports(circuit)
    P = circuit.n_populations
    gain = np.broadcast_to(np.asarray(input_gain, dtype=float), (P,))
    k_out = circuit.index(output_population)
    r = np.asarray(select_fixed_point(circuit, model, fixed_point, roots), dtype=float)
    lin = linearize(circuit, model, r)
    var = _OUTPUT_VARIABLE[output]
    scale = model.recorded_variables[model.recorded_index(var)].to_column   # kHz -> Hz for rates
    b = model.input_jacobian(circuit, lin.state) @ gain
    C, D = model.observe_jacobian(circuit, lin.state, var)
    c = scale * C[k_out]
    d = scale * float(D[k_out] @ gain)
    return StateSpace(A=lin.A, b=b, c=c, d=d, rates_khz=r, eigenvalues=lin.eigenvalues,
                      stability=classify(lin.eigenvalues), output_rate_hz=float(khz_to_hz(r[k_out])))


def transfer_function(ss, freqs_hz):
    """H(f) = c (i w I - A)^-1 b + d for all frequencies in one batched solve (M8).

    Parameters
    ----------
    ss : StateSpace
    freqs_hz : array_like
        Frequencies, Hz (>= 0).

    Returns
    -------
    ndarray of complex, shape of ``freqs_hz``
        Output units per drive unit; ``abs`` is the gain, ``angle`` the phase of the output
        relative to the drive cos(2 pi f t).
    """
    f = np.asarray(freqs_hz, dtype=float)
    w = hz_to_rad_per_ms(f.reshape(-1))                     # rad/ms, matching A in 1/ms
    n = ss.A.shape[0]
    M = 1j * w[:, None, None] * np.eye(n)[None] - ss.A[None]
    x = np.linalg.solve(M, np.broadcast_to(ss.b.astype(complex), (w.size, n))[..., None])[..., 0]
    return (x @ ss.c + ss.d).reshape(f.shape)
