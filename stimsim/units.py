"""Unit conventions and the only place where stimsim converts between units.

Inside the equations (``docs/models.md``): time in ms, rates in kHz (spikes per neuron per ms),
QIF voltages and currents in the dimensionless units of Montbrió, Pazó & Roxin (2015).
At the user boundary: time in ms, rates and frequencies in Hz, fields in V/m, polarization
lengths in mm (numerically mV per V/m), voltage scales in mV per QIF unit.
"""
from __future__ import annotations

import numpy as np

MS_PER_S = 1000.0


def khz_to_hz(rate_khz):
    """Rate in kHz (per ms, the equations' unit) -> Hz (per s)."""
    return np.multiply(rate_khz, MS_PER_S)


def hz_to_khz(rate_hz):
    """Rate or frequency in Hz -> kHz (per ms)."""
    return np.divide(rate_hz, MS_PER_S)


def per_s_to_per_ms(value_per_s):
    """A rate constant in s^-1 (e.g. Jansen-Rit's a, b, p) -> ms^-1."""
    return np.divide(value_per_s, MS_PER_S)


def hz_to_rad_per_ms(freq_hz):
    """Frequency in Hz -> angular frequency in rad/ms."""
    return np.multiply(freq_hz, 2.0 * np.pi / MS_PER_S)


def rad_per_ms_to_hz(omega_rad_per_ms):
    """Angular frequency in rad/ms -> frequency in Hz."""
    return np.multiply(omega_rad_per_ms, MS_PER_S / (2.0 * np.pi))


def field_to_input(field_v_per_m, lambda_mm, scale_mv_per_unit):
    """Weak uniform field -> input of the population model (models.md M6).

    The somatic polarization is ``dV = lambda * E`` (mm x V/m = mV); dividing by the voltage
    scale (mV per model input unit) gives the input term in the model's own units (QIF units for
    QIF populations, mV for sigmoid populations whose scale is 1 mV per unit).
    """
    return np.multiply(field_v_per_m, np.divide(lambda_mm, scale_mv_per_unit))


def charge_coulomb(current_ma, duration_min):
    """Charge delivered by a constant current: mA x min -> C (1 mA x 1 min = 0.06 C)."""
    return np.multiply(current_ma, duration_min) * 0.06
