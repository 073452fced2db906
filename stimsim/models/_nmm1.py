"""NMM1: static transfer function with second-order synapses (models.md M4, M5).

The classic Jansen–Rit-style heuristic: each population's rate is a static function of its input,
r_k = T_k(x_k), with T the QIF transfer function Phi (M3) or the Jansen–Rit sigmoid (Jansen & Rit,
Biol. Cybern. 73, 357, 1995). Per population k (time in ms, rates in kHz)::

    r_k = T_k(x_k),                 x_k = eta_k + I_k(t) + sum_l K[k, l] s_l
    tau_s ds/dt = z
    tau_s dz/dt = r - 2 z - s

with K[k, l] = w_k J[k, l], w = tau_m (QIF) or 1 (sigmoid). The drive I_k(t) enters the input x
of the transfer function. Recorded: r = T(x), the read-out v (the frozen-input v* = -Delta/(2 pi
tau_m r) for QIF, M3; the input x in mV for sigmoid populations), s and z.
"""
from __future__ import annotations

import math

import numpy as np

from ..kernels import delayed as _delayed_kernel
from ..kernels import nmm1 as _kernel
from ..units import MS_PER_S
from ._base import Model, Variable

_S = Variable("s", "kHz", "s_hz", "Hz", MS_PER_S, "synaptic activation (alpha-filtered rate)")
_Z = Variable("z", "kHz", "z_hz", "Hz", MS_PER_S, "tau_s ds/dt")
_R = Variable("r", "kHz", "rate_hz", "Hz", MS_PER_S, "population firing rate r = T(x)")
_V = Variable("v", "QIF units (mV for sigmoid populations)", "v", "QIF units (mV for sigmoid populations)",
              1.0, "frozen-input mean voltage v*(r) (QIF) or input x (sigmoid)")


class NMM1Model(Model):
    """The heuristic rate model r = T(x) with alpha synapses (QIF or sigmoid populations).

    It is NMM2's limit for inputs slow compared with the (r, v) relaxation (Clusella et al. 2023).

    References
    ----------
    .. [1] B. H. Jansen, V. G. Rit, "Electroencephalogram and visual evoked potential generation in
       a mathematical model of coupled cortical columns", Biol. Cybern. 73, 357-366 (1995).
    .. [2] P. Clusella, E. Köksal-Ersöz, J. Garcia-Ojalvo, G. Ruffini, "Comparison between an
       exact and a heuristic neural mass model with second-order synapses", Biol. Cybern. 117 (2023).

    Examples
    --------
    >>> import stimsim
    >>> m = stimsim.models.get("nmm1")
    >>> m.state_names, m.recorded_names
    (('s', 'z'), ('r', 'v', 's', 'z'))
    """

    name = "nmm1"
    title = "heuristic rate model r = T(x) (Jansen-Rit style)"
    state_variables = (_S, _Z)
    recorded_variables = (_R, _V, _S, _Z)
    supports_delays = True
    long_range_variable = "s"
    history_slope = ("z", "tau_s")          # ds/dt = z / tau_s (M2, M4)
    drive_enters = "x: r = T(eta + I(t) + w J s), the input of the transfer function"

    def supports(self, circuit):
        return None

    def state_at_rates(self, circuit, rates_khz, synapses=None):
        r = np.asarray(rates_khz, dtype=float)
        s = r.copy() if synapses is None else np.asarray(synapses, dtype=float)
        return np.stack([s, np.zeros_like(s)])

    def rhs(self, circuit, y, u=None):
        s, z = y
        ts = circuit.vector("tau_s")
        r = circuit.transfer(self._inputs(circuit, s, u))
        return np.stack([z / ts, (r - 2.0 * z - s) / ts])

    def jacobian(self, circuit, y, u=None):
        s = y[0]
        P = circuit.n_populations
        ts = circuit.vector("tau_s")
        slope = circuit.transfer_slope(self._inputs(circuit, s, u))
        A = np.zeros((2, P, 2, P))
        i = np.arange(P)
        A[0, i, 1, i] = 1.0 / ts
        A[1, :, 0, :] = (slope[:, None] * circuit.effective_coupling - np.eye(P)) / ts[:, None]
        A[1, i, 1, i] = -2.0 / ts
        return A.reshape(2 * P, 2 * P)

    def input_jacobian(self, circuit, y, u=None):
        P = circuit.n_populations
        slope = circuit.transfer_slope(self._inputs(circuit, y[0], u))
        B = np.zeros((2, P, P))
        B[1, np.arange(P), np.arange(P)] = slope / circuit.vector("tau_s")
        return B.reshape(2 * P, P)

    def _v_readout(self, circuit, x, r):
        qif = np.array([p.is_qif for p in circuit.populations])
        tm, d = circuit.vector("tau_m"), circuit.vector("delta")
        with np.errstate(divide="ignore"):
            vstar = -d / (2.0 * math.pi * tm * r)
        return np.where(qif, vstar, x), qif

    def observe(self, circuit, y, u=None):
        s, z = y
        x = self._inputs(circuit, s, u)
        r = circuit.transfer(x)
        return np.stack([r, self._v_readout(circuit, x, r)[0], s, z])

    def observe_jacobian(self, circuit, y, name, u=None):
        a = self.recorded_index(name)
        P = circuit.n_populations
        C = np.zeros((P, 2, P))
        D = np.zeros((P, P))
        K = circuit.effective_coupling
        if a >= 2:                                              # s or z: a state variable
            C[np.arange(P), a - 2, np.arange(P)] = 1.0
            return C.reshape(P, 2 * P), D
        x = self._inputs(circuit, y[0], u)
        slope = circuit.transfer_slope(x)
        dr_ds, dr_du = slope[:, None] * K, np.diag(slope)      # r = T(x), dx/ds = K, dx/du = 1
        if a == 0:
            C[:, 0, :] = dr_ds
            return C.reshape(P, 2 * P), dr_du
        r = circuit.transfer(x)
        qif = np.array([p.is_qif for p in circuit.populations])
        tm, d = circuit.vector("tau_m"), circuit.vector("delta")
        dv_dr = np.where(qif, d / (2.0 * math.pi * tm * np.where(qif, r, 1.0) ** 2), 0.0)   # d v*/d r (M3)
        # QIF rows: dv*/dr dr/d.; sigmoid rows: v = x itself
        C[:, 0, :] = np.where(qif[:, None], dv_dr[:, None] * dr_ds, K)
        D = np.where(qif[:, None], dv_dr[:, None] * dr_du, np.eye(P))
        return C.reshape(P, 2 * P), D

    # --- kernel --------------------------------------------------------------------------------
    def kernel_parameters(self, circuits):
        tps = [c.transfer_parameters()[1:] for c in circuits]
        cols = [[c.vector("tau_s") for c in circuits], [c.vector("eta_bar") for c in circuits],
                [t[0] for t in tps], [t[1] for t in tps], [t[2] for t in tps]]
        return np.stack([np.stack(col, axis=-1) for col in cols])

    def kernel_entry(self, parallel):
        return _kernel.integrate if parallel else _kernel.integrate_serial

    def run_kernel(self, parallel, circuit, y0, par, K, *rest):
        kinds = circuit.transfer_parameters()[0]
        self.kernel_entry(parallel)(y0, par, kinds, K, *rest)

    def _kernel_derivative(self, circuit, y, par, K, u):
        return _kernel.derivative(y, par, circuit.transfer_parameters()[0], K, u)

    def run_delayed_kernel(self, local, n_regions, state, par, args):
        kinds = np.ascontiguousarray(np.tile(local.transfer_parameters()[0], n_regions))    # per element r P + k
        _delayed_kernel.integrate_nmm1(state, par, kinds, *args)
