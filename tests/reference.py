"""Independent reference right-hand sides, written from docs/models.md (M2-M5) for the tests.

They share no code with the kernels: plain numpy, state ordered (r, v, s, z) per population for
NMM2 and (s, z) per population for NMM1, time in ms, rates in kHz.
"""
import math

import numpy as np
from scipy.integrate import solve_ivp


def phi(x, delta, tau_m):
    """QIF transfer function, models.md M3 (direct formula; fine for the x ranges tested)."""
    return math.sqrt(x + math.sqrt(x * x + delta * delta)) / (math.sqrt(2.0) * math.pi * tau_m)


def sig(x, rmax_khz, slope, thr):
    return rmax_khz / (1.0 + math.exp(slope * (thr - x)))


def circuit_arrays(circuit):
    pops = circuit.populations
    return dict(
        tm=np.array([p.tau_m for p in pops]), ts=np.array([p.tau_s for p in pops]),
        d=np.array([p.delta for p in pops]), eta=np.array([p.eta_bar for p in pops]),
        I=np.array([p.I for p in pops]), J=np.array(circuit.J), pops=pops)


def nmm2_rhs(circuit, drive=lambda t: 0.0):
    a = circuit_arrays(circuit)
    P = len(a["tm"])

    def f(t, y):
        y = y.reshape(P, 4)
        out = np.empty_like(y)
        u = np.broadcast_to(drive(t), (P,))
        for k in range(P):
            r, v, s, z = y[k]
            tm, ts = a["tm"][k], a["ts"][k]
            x = a["eta"][k] + a["I"][k] + u[k] + tm * np.dot(a["J"][k], y[:, 2])
            out[k, 0] = (a["d"][k] / (math.pi * tm) + 2 * r * v) / tm
            out[k, 1] = (v * v + x - (math.pi * tm * r) ** 2) / tm
            out[k, 2] = z / ts
            out[k, 3] = (r - 2 * z - s) / ts
        return out.ravel()

    return f


def nmm1_rhs(circuit, drive=lambda t: 0.0):
    a = circuit_arrays(circuit)
    P = len(a["tm"])

    def f(t, y):
        y = y.reshape(P, 2)
        out = np.empty_like(y)
        u = np.broadcast_to(drive(t), (P,))
        for k, p in enumerate(a["pops"]):
            s, z = y[k]
            w = p.tau_m if p.is_qif else 1.0
            x = a["eta"][k] + a["I"][k] + u[k] + w * np.dot(a["J"][k], y[:, 0])
            r = phi(x, p.delta, p.tau_m) if p.is_qif else sig(x, p.rmax_hz / 1000, p.slope_per_mv, p.threshold_mv)
            out[k, 0] = z / p.tau_s
            out[k, 1] = (r - 2 * z - s) / p.tau_s
        return out.ravel()

    return f


def reference_trajectory(circuit, model, y0, t_eval, drive=lambda t: 0.0):
    """solve_ivp DOP853 at rtol 1e-11; y0 in kernel order (nv, P); returns (n_t, nv, P)."""
    f = nmm2_rhs(circuit, drive) if model == "nmm2" else nmm1_rhs(circuit, drive)
    nv, P = y0.shape
    sol = solve_ivp(f, (t_eval[0], t_eval[-1]), y0.T.ravel(), method="DOP853", rtol=1e-11,
                    atol=1e-14, t_eval=t_eval)
    assert sol.success, sol.message
    return sol.y.reshape(P, nv, -1).transpose(2, 1, 0)
