"""Static transfer functions r = T(x) of a population (models.md M3, M4).

The same compiled functions serve the kernels and the Python-side fixed-point and Jacobian code,
so both describe exactly the same model. Rates are in kHz, inputs in the population's own units.
"""
from __future__ import annotations

import math

import numba
import numpy as np

#: transfer kind codes used by the kernels
QIF = 0
SIGMOID = 1
TRANSFER_KINDS = {"qif": QIF, "sigmoid": SIGMOID}

_SQRT2_PI = math.sqrt(2.0) * math.pi


@numba.njit(cache=True, inline="always")
def _qif_w(x, delta):
    # w = x + sqrt(x^2 + Delta^2), written without cancellation for x << 0
    root = math.sqrt(x * x + delta * delta)
    if x >= 0.0:
        return x + root
    return delta * delta / (root - x)


@numba.njit(cache=True, inline="always")
def phi_qif(x, delta, tau_m):
    """QIF transfer function Phi(x), models.md M3.

    Phi(x) = sqrt(x + sqrt(x^2 + Delta^2)) / (sqrt(2) pi tau_m), in kHz for tau_m in ms.
    """
    return math.sqrt(_qif_w(x, delta)) / (_SQRT2_PI * tau_m)


@numba.njit(cache=True)
def dphi_qif(x, delta, tau_m):
    """dPhi/dx = Phi(x) / (2 sqrt(x^2 + Delta^2)) (derivative of models.md M3)."""
    return phi_qif(x, delta, tau_m) / (2.0 * math.sqrt(x * x + delta * delta))


@numba.njit(cache=True)
def v_star_qif(rate_khz, delta, tau_m):
    """Mean voltage on the frozen-input fixed point, v* = -Delta / (2 pi tau_m r*) (M3)."""
    return -delta / (2.0 * math.pi * tau_m * rate_khz)


@numba.njit(cache=True, inline="always")
def sigmoid(x, rmax, slope, threshold):
    """Jansen-Rit logistic sigmoid S(x) = rmax / (1 + exp(slope (threshold - x))) (M4).

    rmax = 2 e0 (kHz), slope = r0 (1/mV), threshold = v0 (mV), x in mV.
    """
    return rmax / (1.0 + math.exp(slope * (threshold - x)))


@numba.njit(cache=True)
def dsigmoid(x, rmax, slope, threshold):
    """dS/dx = slope S (1 - S / rmax)."""
    s = sigmoid(x, rmax, slope, threshold)
    return slope * s * (1.0 - s / rmax)


@numba.njit(cache=True, inline="always")
def transfer(kind, x, p0, p1, p2):
    """Rate T(x) in kHz. kind QIF: p0 = Delta, p1 = tau_m (ms); SIGMOID: rmax (kHz), slope, threshold."""
    if kind == QIF:
        return phi_qif(x, p0, p1)
    return sigmoid(x, p0, p1, p2)


@numba.njit(cache=True)
def dtransfer(kind, x, p0, p1, p2):
    """dT/dx, kHz per input unit."""
    if kind == QIF:
        return dphi_qif(x, p0, p1)
    return dsigmoid(x, p0, p1, p2)


@numba.njit(cache=True)
def mean_voltage(kind, x, rate_khz, p0, p1):
    """The NMM1 read-out of mean voltage: v* (QIF units) for QIF, the input x (mV) for sigmoid."""
    if kind == QIF:
        return v_star_qif(rate_khz, p0, p1)
    return x


@numba.njit(cache=True)
def rates_many(kinds, p0, p1, p2, x):
    """T_k(x[i, k]) for an (n, P) array of inputs (kHz); p0, p1, p2, kinds per population."""
    n, P = x.shape
    out = np.empty((n, P))
    for i in range(n):
        for k in range(P):
            out[i, k] = transfer(kinds[k], x[i, k], p0[k], p1[k], p2[k])
    return out


@numba.njit(cache=True)
def slopes_many(kinds, p0, p1, p2, x):
    """dT_k/dx at x[i, k] for an (n, P) array of inputs (kHz per input unit)."""
    n, P = x.shape
    out = np.empty((n, P))
    for i in range(n):
        for k in range(P):
            out[i, k] = dtransfer(kinds[k], x[i, k], p0[k], p1[k], p2[k])
    return out
