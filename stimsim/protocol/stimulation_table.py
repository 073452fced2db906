"""The ``[stimulation]`` table of a circuit protocol: drive unit, coupling, device and waveforms.

:func:`read_stimulation` reads the unit of the amplitudes (V/m, coupled by lambda E / scale,
models.md M6, or model input units), the polarization lengths and voltage scales per population,
the populations driven, the device settings of the safety notes and the waveforms
(:mod:`stimsim.protocol.waveforms`), each checked against the run's grid.
"""
from __future__ import annotations

import secrets
from pathlib import Path

import numpy as np

from ..coupling import FieldCoupling, default_lambdas_mm
from ..errors import closest
from ..units import khz_to_hz
from . import waveforms as wf
from .reader import Reader, show

DRIVE_UNITS = ("field", "current")
#: guard against drives that cannot fit in memory (drive samples at dt/2 are float64)
MAX_DRIVE_SAMPLES = 5e7


def read_stimulation(r, circuit, run, base):
    """The validated ``[stimulation]`` table (a dict); ``base`` is the folder CSV paths are relative to."""
    dt = run["dt_ms"]
    unit = r.string("unit", "field", DRIVE_UNITS)
    wdt = r.number("waveform_dt_ms", 0.5 * dt, minimum=0.0, exclusive=True, unit="ms")
    stride = wdt / (0.5 * dt)
    if abs(stride - round(stride)) > 1e-9 * stride:
        r.fail(f"{wdt:g} must be a whole multiple of dt_ms/2 = {0.5 * dt:g} ms", "waveform_dt_ms")
    nyquist_hz = min(khz_to_hz(1.0 / (2.0 * dt)), khz_to_hz(1.0 / (2.0 * wdt)))

    cr = r.child("coupling")
    populations = cr.string_list("populations", list(circuit.names), circuit.names)
    if unit == "field":
        lam = _per_pop_values(cr, "lambda_mm", circuit, dict(zip(circuit.names, default_lambdas_mm(circuit))),
                              positive=False)
        default_scales = FieldCoupling().scales_mv(circuit)
        scales = _per_pop_values(cr, "scale_mv_per_unit", circuit, dict(zip(circuit.names, default_scales)), positive=True)
        cr.finish(["lambda_mm", "scale_mv_per_unit", "populations"])
        coupling = FieldCoupling(lambda_mm=lam, scale_mv_per_unit=scales)
        coupling_resolved = dict(lambda_mm=lam, scale_mv_per_unit=scales, populations=populations)
    else:
        for key in ("lambda_mm", "scale_mv_per_unit"):
            if cr.has(key):
                cr.fail("applies only to unit = \"field\" (here unit = \"current\": amplitudes are model input units)", key)
        cr.finish(["populations"])
        coupling = FieldCoupling()
        coupling_resolved = dict(populations=populations)

    dr = r.child("device")
    device = {}
    for key, unit_name in (("current_ma", "mA"), ("session_min", "min")):
        v = dr.number(key, None, minimum=0.0, exclusive=True, unit=unit_name)
        if v is not None:
            device[key] = v
    dr.finish(["current_ma", "session_min"])

    raw_waves = r.get("waveforms", [])
    if not isinstance(raw_waves, list):
        r.fail(f"must be a list of tables [[stimulation.waveforms]], got {show(raw_waves)}", "waveforms")
    waves = tuple(_waveform(Reader(item, r.where(f"waveforms[{i}]"), r.source), run, nyquist_hz, wdt, base)
                  for i, item in enumerate(raw_waves))
    r.finish(["unit", "waveform_dt_ms", "coupling", "device", "waveforms"])
    mask = np.array([n in populations for n in circuit.names], dtype=float)
    gains = coupling.gains(circuit) * mask if unit == "field" else mask
    if waves and not np.any(gains != 0.0):
        r.fail("the drive reaches no population (every listed population has lambda_mm = 0)", "coupling")
    n_samples = run["duration_ms"] / wdt * circuit.n_populations
    if waves and n_samples > MAX_DRIVE_SAMPLES:
        r.fail(f"the drive would need {n_samples:.3g} samples (duration / waveform_dt_ms x populations), more "
               f"than {MAX_DRIVE_SAMPLES:.0e}; set a coarser waveform_dt_ms", "waveform_dt_ms")
    resolved = dict(unit=unit, waveform_dt_ms=wdt, coupling=coupling_resolved,
                    waveforms=[w.resolved() for w in waves])
    if device:
        resolved["device"] = device
    return dict(unit=unit, waveform_dt_ms=wdt, coupling=coupling, populations=tuple(populations),
                device=device, waveforms=waves, resolved=resolved)


def _per_pop_values(r, key, circuit, default, positive):
    """{population: float} from a number or a table; missing populations get ``default``."""
    defaults = default if isinstance(default, dict) else {n: default for n in circuit.names}
    if not r.has(key):
        r.used.add(key)
        return {n: float(defaults[n]) for n in circuit.names}
    value = r.get(key)
    if isinstance(value, dict):
        for pop in value:
            if pop not in circuit.names:
                r.fail(f"unknown population {pop!r}{closest(pop, circuit.names)}; allowed: {', '.join(circuit.names)}", key)
        values = {n: value.get(n, defaults[n]) for n in circuit.names}
        return {n: r.as_number(v, f"{key}.{n}", 0.0, positive) for n, v in values.items()}
    v = r.as_number(value, key, 0.0, positive)
    return {n: v for n in circuit.names}


def _waveform(r, run, nyquist_hz, wdt, base):
    kind = r.string("kind", choices=list(wf.KINDS))
    types = wf.field_types(kind)
    allowed = ["kind"] + wf.waveform_keys(kind)
    r.finish(allowed)
    missing = [k for k in wf.required_keys(kind) if k not in r.data]
    if missing:
        r.fail(f"is required for kind = {kind!r}", missing[0])
    kwargs = {}
    for key, value in r.data.items():
        if key == "kind":
            continue
        t = types[key]
        if t is float:
            kwargs[key] = r.as_number(value, key)
        elif t is int:
            if isinstance(value, bool) or not isinstance(value, int):
                r.fail(f"must be an integer, got {show(value)}", key)
            kwargs[key] = value
        elif t is bool:
            if not isinstance(value, bool):
                r.fail(f"must be true or false, got {show(value)}", key)
            kwargs[key] = value
        else:
            kwargs[key] = r.as_string(value, key)
    if kind == "noise" and kwargs.get("seed") is None:
        kwargs["seed"] = secrets.randbits(63)           # recorded in the resolved protocol
    if kind == "csv":
        p = Path(kwargs["path"])
        kwargs["path"] = str(p if p.is_absolute() else base / p)
    try:
        wave = wf.KINDS[kind](**kwargs)
        wave.check_grid(run["duration_ms"], nyquist_hz, wdt)
    except ValueError as exc:
        r.fail(str(exc))
    return wave
