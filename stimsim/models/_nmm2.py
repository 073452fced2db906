"""NMM2: the exact mean field of QIF neurons with second-order synapses (models.md M2, M5).

Montbrió, Pazó & Roxin, "Macroscopic description for networks of spiking neurons",
Phys. Rev. X 5, 021028 (2015), with the alpha-kernel synapse of Clusella, Köksal-Ersöz,
Garcia-Ojalvo & Ruffini, Biol. Cybern. 117 (2023). Per population k (time in ms, r in kHz)::

    tau_m dr/dt = Delta/(pi tau_m) + 2 r v
    tau_m dv/dt = v^2 + x_k - (pi tau_m r)^2,      x_k = eta_k + I_k(t) + sum_l K[k, l] s_l
    tau_s ds/dt = z
    tau_s dz/dt = r - 2 z - s

with K[k, l] = tau_m,k J[k, l]. The external drive I_k(t) enters the v equation.
"""
from __future__ import annotations

import math

import numpy as np

from ..kernels import delayed as _delayed_kernel
from ..kernels import nmm2 as _kernel
from ..units import MS_PER_S
from ._base import Model, Variable

_R = Variable("r", "kHz", "rate_hz", "Hz", MS_PER_S, "population firing rate")
_V = Variable("v", "QIF units", "v", "QIF units", 1.0, "mean membrane voltage")
_S = Variable("s", "kHz", "s_hz", "Hz", MS_PER_S, "synaptic activation (alpha-filtered rate)")
_Z = Variable("z", "kHz", "z_hz", "Hz", MS_PER_S, "tau_s ds/dt")


class NMM2Model(Model):
    """The exact Montbrió–Pazó–Roxin mean field (QIF populations only).

    References
    ----------
    .. [1] E. Montbrió, D. Pazó, A. Roxin, "Macroscopic description for networks of spiking
       neurons", Phys. Rev. X 5, 021028 (2015).
    .. [2] P. Clusella, E. Köksal-Ersöz, J. Garcia-Ojalvo, G. Ruffini, "Comparison between an
       exact and a heuristic neural mass model with second-order synapses", Biol. Cybern. 117 (2023).

    Examples
    --------
    >>> import stimsim
    >>> m = stimsim.models.get("nmm2")
    >>> m.state_names
    ('r', 'v', 's', 'z')
    """

    name = "nmm2"
    title = "exact QIF mean field (Montbrió, Pazó & Roxin 2015)"
    state_variables = (_R, _V, _S, _Z)
    recorded_variables = (_R, _V, _S, _Z)
    supports_delays = True
    long_range_variable = "s"
    history_slope = ("z", "tau_s")          # ds/dt = z / tau_s (M2, M4)
    exact = True
    drive_enters = "v: tau_m dv/dt = v^2 + eta + I(t) + tau_m J s - (pi tau_m r)^2"

    def supports(self, circuit):
        bad = [p.name for p in circuit.populations if not p.is_qif]
        if bad:
            return (f"the exact mean field exists only for QIF populations; {bad} use transfer='sigmoid' "
                    "(run them with model 'nmm1')")
        return None

    def state_at_rates(self, circuit, rates_khz, synapses=None):
        r = np.asarray(rates_khz, dtype=float)
        tm, d = circuit.vector("tau_m"), circuit.vector("delta")
        v = -d / (2.0 * math.pi * tm * r)                      # frozen-input v*(r), M3
        s = r.copy() if synapses is None else np.asarray(synapses, dtype=float)
        return np.stack([r, v, s, np.zeros_like(r)])

    def validate_state(self, circuit, y, what="initial"):
        if np.any(y[0] < 0):
            raise ValueError(f"{what} rates r must be >= 0 kHz, got {y[0].tolist()}")

    def rhs(self, circuit, y, u=None):
        r, v, s, z = y
        tm, ts, d = circuit.vector("tau_m"), circuit.vector("tau_s"), circuit.vector("delta")
        x = self._inputs(circuit, s, u)
        return np.stack([(d / (math.pi * tm) + 2.0 * r * v) / tm,
                         (v * v + x - (math.pi * tm * r) ** 2) / tm,
                         z / ts,
                         (r - 2.0 * z - s) / ts])

    def jacobian(self, circuit, y, u=None):
        r, v = y[0], y[1]
        P = circuit.n_populations
        tm, ts = circuit.vector("tau_m"), circuit.vector("tau_s")
        A = np.zeros((4, P, 4, P))
        i = np.arange(P)
        A[0, i, 0, i] = 2.0 * v / tm                           # d(dr/dt)/dr
        A[0, i, 1, i] = 2.0 * r / tm                           # d(dr/dt)/dv
        A[1, i, 0, i] = -2.0 * math.pi ** 2 * tm * r           # d(dv/dt)/dr
        A[1, i, 1, i] = 2.0 * v / tm                           # d(dv/dt)/dv
        A[1, :, 2, :] = circuit.effective_coupling / tm[:, None]   # d(dv/dt)/ds_l = J[k, l]
        A[2, i, 3, i] = 1.0 / ts
        A[3, i, 0, i] = 1.0 / ts
        A[3, i, 2, i] = -1.0 / ts
        A[3, i, 3, i] = -2.0 / ts
        return A.reshape(4 * P, 4 * P)

    def input_jacobian(self, circuit, y, u=None):
        P = circuit.n_populations
        B = np.zeros((4, P, P))
        B[1, np.arange(P), np.arange(P)] = 1.0 / circuit.vector("tau_m")
        return B.reshape(4 * P, P)

    def observe(self, circuit, y, u=None):
        return np.array(y, dtype=float, copy=True)

    def observe_jacobian(self, circuit, y, name, u=None):
        a = self.recorded_index(name)
        P = circuit.n_populations
        C = np.zeros((P, 4, P))
        C[np.arange(P), a, np.arange(P)] = 1.0
        return C.reshape(P, 4 * P), np.zeros((P, P))

    # --- kernel --------------------------------------------------------------------------------
    def kernel_parameters(self, circuits):
        cols = ("tau_m", "tau_s", "delta", "eta_bar")
        return np.stack([np.stack([c.vector(n) for c in circuits], axis=-1) for n in cols])

    def kernel_entry(self, parallel):
        return _kernel.integrate if parallel else _kernel.integrate_serial

    def run_kernel(self, parallel, circuit, y0, par, K, *rest):
        self.kernel_entry(parallel)(y0, par, K, *rest)

    def _kernel_derivative(self, circuit, y, par, K, u):
        return _kernel.derivative(y, par, K, u)

    def run_delayed_kernel(self, local, n_regions, state, par, args):
        _delayed_kernel.integrate_nmm2(state, par, *args)
