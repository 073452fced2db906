"""Whole-brain protocols against hostile input (issue 18): every bad value is one line naming the file,
the key, the value and what is allowed, with exit code 2, before any model runs; the memory and size
estimate; the analysed frequency of a temporal-interference montage; strict JSON metadata."""
import json
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stimsim.brain._estimate as est
import stimsim.brain._protocol_read as pr
import stimsim.brain._simulate as brain_sim
import stimsim.models as models
import stimsim.protocol.checks as checks
from stimsim.brain._connectome import (
    GENERATED_BYTES_PER_PAIR,
    MAX_GENERATED_BYTES,
    euclidean_distances_mm,
    generated_connectome,
    generated_connectome_bytes,
    save_tvb_zip,
)
from stimsim.brain._fields import MAX_FIELD_V_PER_M, peak_fields_v_per_m
from stimsim.brain._protocol import load_brain_protocol
from stimsim.brain._protocol_run import finite_json
from stimsim.cli import main
from stimsim.errors import InputError

BRAIN = Path(__file__).resolve().parents[1] / "protocols" / "brain"
TACS = BRAIN / "tacs-alpha-occipital.toml"
FAST = ["run.duration_ms=1300.0", "run.transient_ms=300.0", "run.models=['nmm2']", "network.regions=6"]


@pytest.fixture
def no_run(monkeypatch):
    """Fail if any model is simulated: every refusal below must come before a run starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("a model was run")
    monkeypatch.setattr(brain_sim, "simulate_network", refuse)
    monkeypatch.setattr(models.Model, "simulate_regions", refuse)
    monkeypatch.setattr(type(models.get("network")), "simulate_regions", refuse)


def refused(tmp_path, capsys, sets, protocol=TACS):
    """Run `stimsim brain` with --set values; it must exit 2 with one line and write nothing."""
    out = tmp_path / "never"
    args = ["brain", str(protocol), "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"stimsim: error: {protocol}: "), err
    assert not out.exists()
    return err[0].removeprefix(f"stimsim: error: {protocol}: ")


# --- 4, 7, 9: [analysis] and [montage] values ------------------------------------------------------------
@pytest.mark.parametrize("sets, match", [
    (['analysis.band_hz=["a", "b"]'], r"^analysis\.band_hz\[0\]: must be a number in Hz, got 'a'$"),
    (["analysis.band_hz=[8.0, inf]"], r"^analysis\.band_hz\[1\]: must be finite, got inf$"),
    (["analysis.band_hz=[nan, 12.0]"], r"^analysis\.band_hz\[0\]: must be finite, got nan$"),
    (["analysis.band_hz=[8.0, 800.0]"], r"^analysis\.band_hz: \[8\.0, 800\.0\] Hz reaches above the Nyquist frequency "
                                        r"500 Hz of the recorded series \(dt_ms x record_every = 1 ms\)"),
    (["analysis.eeg_electrodes=[]"], r"^analysis\.eeg_electrodes: must be a list of at least 2 distinct 10-20/10-05 "
                                     r"electrode names, .*one electrode alone reads 0\), got \[\]$"),
    (['analysis.eeg_electrodes="Cz"'], r'^analysis\.eeg_electrodes: must be a list of at least 2 .* got "Cz"$'),
    (['analysis.eeg_electrodes=["Cz"]'], r'^analysis\.eeg_electrodes: must be a list of at least 2 .* got \["Cz"\]$'),
    (['analysis.eeg_electrodes=["Cz", "Q9"]'], r"^analysis\.eeg_electrodes\[1\]: unknown electrode 'Q9' \(did you "
                                               r"mean 'T9'\?\); allowed: the 343 names of the 10-20/10-05 system"),
    (['analysis.eeg_electrodes=["Cz", "cz"]'], r"^analysis\.eeg_electrodes: must be a list .*; repeated: Cz$"),
    (['analysis.eeg_electrodes=[1, "Cz"]'], r"^analysis\.eeg_electrodes\[0\]: must be an electrode name \(a string\), "
                                            r"got 1$"),
    (["analysis.drive_frequency_hz=2000.0"], r"^analysis\.drive_frequency_hz: 2000 Hz is not below the Nyquist "
                                             r"frequency 500 Hz of the recorded series \(dt_ms x record_every = 1 ms\); "
                                             r"lower run\.record_every$"),
    (["analysis.drive_frequency_hz=inf"], r"^analysis\.drive_frequency_hz: must be finite, got inf$"),
    (["analysis.drive_frequency_hz=0.0"], r"^analysis\.drive_frequency_hz: must be > 0 Hz, got 0$"),
    (["montage.lambda_mm=1e300", "montage.waveforms.0.amplitude=1e300"],
     r"^montage\.lambda_mm: must be <= 10 mm, got 1e\+300 \(ten times the largest measured somatic polarization "
     r"length, 0\.1-0\.5 mm: Bikson et al\. 2004, Radman et al\. 2009\)$"),
    (["montage.lambda_mm=inf"], r"^montage\.lambda_mm: must be finite, got inf$"),
    (["montage.lambda_mm=-0.1"], r"^montage\.lambda_mm: must be >= 0 mm, got -0\.1$"),
    (["montage.lambda_mm={P = 20.0}"], r"^montage\.lambda_mm\.P: must be <= 10 mm, got 20 "),
    (["montage.lambda_mm={Q = 0.1}"], r"^montage\.lambda_mm: unknown population 'Q'.*; allowed: P$"),
    (["montage.waveforms.0.amplitude=1e300"],
     r"^montage\.waveforms: the montage current \(peak 1e\+300 mA\) gives region \w+ a field of [0-9.e+]+ V/m, "
     r"more than 1000 V/m: the field coupling lambda E / scale is a weak-field model .*; lower the amplitude$"),
    (["montage.waveforms.0.stop_ms=1005.0"], r"^run\.duration_ms: the analysed 5 ms during stimulation \[1000, 1005\] "
                                             r"ms hold fewer than 8 recorded samples \(every dt_ms x record_every = "
                                             r"1 ms\) for their spectra"),
])
def test_bad_analysis_and_montage_values_are_one_line_before_any_run(tmp_path, capsys, no_run, sets, match):
    assert re.search(match, refused(tmp_path, capsys, sets))


def test_a_field_above_the_limit_is_refused_and_one_below_accepted(no_run):
    """The bound is on the largest regional field: MAX_FIELD_V_PER_M V/m."""
    bp = load_brain_protocol(TACS, sets=FAST)
    peak = float(np.max(np.abs(bp.field_peak_v_per_m)))              # V/m at 1 mA zero-to-peak
    below, above = 0.99 * MAX_FIELD_V_PER_M / peak, 1.01 * MAX_FIELD_V_PER_M / peak
    ok = load_brain_protocol(TACS, sets=[*FAST, f"montage.waveforms.0.amplitude={below!r}"])
    assert np.max(np.abs(ok.field_peak_v_per_m)) == pytest.approx(0.99 * MAX_FIELD_V_PER_M, rel=1e-9)
    with pytest.raises(InputError, match=r"montage\.waveforms: .* more than 1000 V/m"):
        load_brain_protocol(TACS, sets=[*FAST, f"montage.waveforms.0.amplitude={above!r}"])


def test_lambda_up_to_the_bound_is_accepted_per_population(no_run):
    bp = load_brain_protocol(TACS, sets=[*FAST, "montage.lambda_mm={P = 10.0}"])
    assert bp.coupling.lambdas_mm(bp.carrier.circuit).tolist() == [10.0]


# --- 5: memory and size estimate ----------------------------------------------------------------------------
@pytest.mark.parametrize("regions", [20000, 1000000])
def test_absurd_region_counts_are_refused_with_the_estimate(tmp_path, capsys, no_run, regions, monkeypatch):
    monkeypatch.setattr(checks, "MAX_MEMORY_BYTES", 8 * 2**30)
    msg = refused(tmp_path, capsys, [f"network.regions={regions}"])
    m = re.match(r"^network\.regions: the run would need about ([0-9.e+]+) GiB of memory at its peak \(GiB: "
                 r"connectome matrices [0-9.e+]+, delay tables [0-9.e+]+, recordings and their analysis [0-9.e+]+, "
                 r"EEG traces [0-9.e+]+, tables [0-9.e+]+, drive [0-9.e+]+\), more than 8 GiB "
                 r"\(stimsim\.protocol\.checks\.MAX_MEMORY_BYTES\); use regions <= ([0-9,]+) "
                 rf"\(now {regions:,}; {regions * (regions - 1):,} connections\)$", msg)
    assert m, msg
    # the largest region count that fits: it fits, one more does not
    top = int(m.group(2).replace(",", ""))
    bp = load_brain_protocol(TACS, sets=[f"network.regions={min(top, 50)}"])       # the run's other settings
    totals = [est.estimate_brain_memory(n, n * (n - 1), bp.carrier, 2, 19, bp.windows, 1, True)["memory_bytes"]["total"]
              for n in (top, top + 1)]
    assert totals[0] <= 8 * 2**30 < totals[1]


def test_the_default_memory_limit_is_half_the_machine(tmp_path, capsys, no_run):
    msg = refused(tmp_path, capsys, ["network.regions=1000000"])
    assert re.search(r"more than [0-9.]+ GiB \(50% of this machine's [0-9]+ GiB\); use regions <= ", msg)
    assert checks.MEMORY_FRACTION == 0.5


def test_long_recordings_name_record_every(tmp_path, capsys, no_run, monkeypatch):
    monkeypatch.setattr(checks, "MAX_MEMORY_BYTES", 0.5 * 2**30)
    msg = refused(tmp_path, capsys, ["run.record_every=1", "network.regions=4", "run.models=['nmm2']"])
    assert re.search(r"^run\.record_every: the run would need about [0-9.]+ GiB .* more than 0\.5 GiB .*; raise "
                     r"run\.record_every \(now 1\) or shorten run\.duration_ms \(now 5000 ms\), or use fewer "
                     r"analysis\.eeg_electrodes \(now 19\), network\.G values \(now 1\) or run\.models \(now 1\)$", msg)


def test_a_connectome_file_too_large_names_the_connectome(tmp_path, capsys, no_run, monkeypatch):
    save_tvb_zip(generated_connectome(60, seed=1), tmp_path / "c.zip")
    data = tomllib.loads(TACS.read_text())
    p = tmp_path / "zip.toml"
    text = TACS.read_text().replace('connectome = "generated"\nregions = 30\nseed = 1\n', 'connectome = "c.zip"\n')
    assert text != TACS.read_text() and data["network"]["regions"] == 30
    p.write_text(text)
    monkeypatch.setattr(checks, "MAX_MEMORY_BYTES", 2**30)
    monkeypatch.setattr(est, "DELAY_BYTES_PER_CONNECTION", 1e6)     # make the network's size dominate
    msg = refused(tmp_path, capsys, ["run.models=['nmm2']"], protocol=p)
    assert re.search(r"^network\.connectome: the run would need .*; its 60 regions and 3,540 connections do not fit; "
                     r"use a smaller connectome$", msg)


def test_generated_connectome_refuses_before_allocating(monkeypatch):
    top = int((MAX_GENERATED_BYTES / GENERATED_BYTES_PER_PAIR) ** 0.5)
    assert top == 8192 and generated_connectome_bytes(top) <= MAX_GENERATED_BYTES < generated_connectome_bytes(top + 1)
    for n in (top + 1, 10**6, 10**30):            # 10**30 regions: R^2 would overflow any allocation
        with pytest.raises(InputError, match=rf"n_regions={n:,} needs about .* GiB for the generated connectome's "
                                             rf".* matrices \(limit 4 GiB, stimsim\.brain\._connectome\."
                                             rf"MAX_GENERATED_BYTES\); use n_regions <= 8,192$"):
            generated_connectome(n)
    # in a protocol, with a memory limit that lets the run through, the key is named
    monkeypatch.setattr(checks, "MAX_MEMORY_BYTES", 1e15)
    monkeypatch.setattr("stimsim.brain._connectome.MAX_GENERATED_BYTES", 64.0 * 20**2)
    with pytest.raises(InputError, match=r"network\.regions: n_regions=21 needs about .*use n_regions <= 20$"):
        load_brain_protocol(TACS, sets=["network.regions=21"])


def test_distances_are_the_same_bits_as_the_norm_of_differences():
    rng = np.random.default_rng(3)
    for n in (2, 9, 150):
        c = rng.normal(size=(n, 3)) * 60.0 + 5.0
        assert np.array_equal(euclidean_distances_mm(c), np.linalg.norm(c[:, None, :] - c[None, :, :], axis=-1))


def test_peak_fields_in_blocks():
    rng = np.random.default_rng(4)
    w1, per1 = rng.normal(size=(501, 1)), rng.normal(size=(1, 23))
    whole = w1 @ per1
    expect = whole[np.argmax(np.abs(whole), axis=0), np.arange(23)]
    for block in (1, 23, 100, None):
        assert np.array_equal(peak_fields_v_per_m(w1, per1, block), expect)       # one channel: exact
    w2, per2 = rng.normal(size=(501, 2)), rng.normal(size=(2, 23))
    runs = [peak_fields_v_per_m(w2, per2, b) for b in (1, 23, 100, None)]
    assert all(np.array_equal(r, runs[0]) for r in runs)                            # any blocks: the same sums
    whole = w2 @ per2
    np.testing.assert_allclose(runs[0], whole[np.argmax(np.abs(whole), axis=0), np.arange(23)], rtol=1e-14)
    # ties: the first time wins; overflow: inf, and nan where infinities cancel, without warnings
    assert peak_fields_v_per_m([[1.0], [-1.0]], [[2.0]], 1).tolist() == [2.0]
    with np.errstate(all="raise"):
        out = peak_fields_v_per_m([[1e300, 1e300]], [[1e300, 1.0], [-1e300, 1.0]])
    assert math.isnan(out[0]) and out[1] == 2e300


def test_estimate_counts_the_rows_and_is_in_metadata(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["brain", str(TACS), "--out", str(out), *[a for s in FAST for a in ("--set", s)]]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"stimsim: analysed frequency 10 Hz \(the montage waveform's rhythm\); band 8-12 Hz; "
                     r"estimated peak memory [0-9.]+ GiB", printed)
    meta = json.loads((out / "metadata.json").read_text())
    estimate = meta["estimate"]
    mem = estimate["memory_bytes"]
    assert set(mem) == {"connectome", "delay_tables", "recordings", "eeg", "tables", "drive", "fixed", "total"}
    assert mem["total"] == pytest.approx(sum(v for k, v in mem.items() if k != "total"))
    assert mem["connectome"] == est.CONNECTOME_MATRICES * 8 * 6**2
    assert mem["delay_tables"] == (est.DELAY_BYTES_PER_CONNECTION + est.DELAY_BYTES_PER_CONNECTION_BLOCK
                                   * est._blocks(2)) * 6 * 5
    for name, rows in estimate["rows"].items():              # the size estimate is exact
        assert len(pd.read_csv(out / name)) == rows, name
    assert meta["analysis"]["drive_frequency_source"] == "the montage waveform's rhythm"


def test_estimate_covers_the_measured_peak(tmp_path):
    """The estimate (without the fixed part) is at least the peak of numpy allocations of a run,
    and not wildly above it (tracemalloc sees numpy's buffers)."""
    import tracemalloc

    from stimsim.brain._protocol import run_brain_protocol

    bp = load_brain_protocol(TACS, sets=["run.duration_ms=1300.0", "run.transient_ms=300.0", "run.models=['nmm2']",
                                         "network.regions=20", "run.record_every=4"])
    run_brain_protocol(load_brain_protocol(TACS, sets=FAST), tmp_path / "warm", progress=False)   # compile first
    tracemalloc.start()
    try:
        run_brain_protocol(bp, tmp_path / "run", progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    mem = bp.estimate["memory_bytes"]
    variable = mem["total"] - mem["fixed"]
    assert 0.3 * variable < peak < mem["total"], (peak, mem)


# --- 8: temporal interference: the analysed frequency ------------------------------------------------------
TI = """
name = "ti"
[network]
connectome = "generated"
regions = 6
seed = 1
local = "pyramidal-physiological"
G = 0.3
[montage]
[[montage.channels]]
electrodes = { F3 = 1.0, P3 = -1.0 }
[[montage.channels.waveforms]]
kind = "sine"
amplitude = 1.0
frequency_hz = 1000.0
convention = "zero_to_peak"
[[montage.channels]]
electrodes = { F4 = 1.0, P4 = -1.0 }
[[montage.channels.waveforms]]
kind = "sine"
amplitude = 1.0
frequency_hz = F2
convention = "zero_to_peak"
[run]
models = ["nmm2"]
duration_ms = 1300.0
transient_ms = 300.0
dt_ms = 0.05
record_every = 20
"""


def ti(tmp_path, f2=1010.0, extra=""):
    p = tmp_path / "ti.toml"
    p.write_text(TI.replace("F2", repr(f2)) + extra)
    return p


def test_ti_default_is_the_envelope_and_the_run_says_so(tmp_path, capsys):
    p = ti(tmp_path)
    bp = load_brain_protocol(p)
    assert bp.drive_frequency_hz == 10.0 and bp.band_hz == (8.0, 12.0)
    assert bp.drive_frequency_source == "the envelope |f1 - f2| of the channels' carriers 1000 and 1010 Hz"
    assert [c.waveforms[0].frequency_hz for c in bp.carriers] == [1000.0, 1010.0]   # the carriers themselves
    out = tmp_path / "out"
    assert main(["brain", str(p), "--out", str(out)]) == 0
    assert ("stimsim: analysed frequency 10 Hz (the envelope |f1 - f2| of the channels' carriers 1000 and 1010 Hz)"
            in capsys.readouterr().out)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["analysis"]["drive_frequency_hz"] == 10.0
    assert meta["analysis"]["drive_frequency_source"].startswith("the envelope |f1 - f2|")
    assert meta["protocol"]["analysis"]["drive_frequency_hz"] == 10.0
    reg = pd.read_csv(out / "regional.csv")
    assert reg.response_hz.notna().all() and "gain_hz_per_v_per_m" in reg


def test_ti_with_the_envelope_given_is_accepted(tmp_path, no_run):
    """Refused on main ('1000 Hz is not below the Nyquist frequency 500 Hz'): Nyquist is checked
    against the analysed frequency, not the first carrier."""
    bp = load_brain_protocol(ti(tmp_path, extra="[analysis]\ndrive_frequency_hz = 10.0\n"))
    assert bp.drive_frequency_hz == 10.0 and bp.drive_frequency_source == "analysis.drive_frequency_hz"


def test_ti_envelope_above_nyquist_names_the_default(tmp_path, capsys, no_run):
    msg = refused(tmp_path, capsys, [], protocol=ti(tmp_path, f2=1600.0))
    assert msg == ("analysis.drive_frequency_hz: 600 Hz is not below the Nyquist frequency 500 Hz of the recorded "
                   "series (dt_ms x record_every = 1 ms); lower run.record_every (the default analysed frequency: the "
                   "envelope |f1 - f2| of the channels' carriers 1000 and 1600 Hz; set analysis.drive_frequency_hz)")


def test_channels_at_one_frequency_analyse_it(tmp_path, capsys, no_run):
    msg = refused(tmp_path, capsys, [], protocol=ti(tmp_path, f2=1000.0))
    assert msg.startswith("analysis.drive_frequency_hz: 1000 Hz is not below the Nyquist frequency 500 Hz")
    assert msg.endswith("(the default analysed frequency: the rhythm common to the channels' waveforms; set "
                        "analysis.drive_frequency_hz)")


def test_three_carrier_frequencies_need_the_analysed_one(tmp_path, capsys, no_run):
    third = ('\n[[montage.channels]]\nelectrodes = { O1 = 1.0, Cz = -1.0 }\n[[montage.channels.waveforms]]\n'
             'kind = "sine"\namplitude = 1.0\nfrequency_hz = 1020.0\nconvention = "zero_to_peak"\n')
    text = TI.replace("F2", "1010.0").replace("[run]", third + "[run]")
    p = tmp_path / "ti3.toml"
    p.write_text(text)
    assert refused(tmp_path, capsys, [], protocol=p) == (
        "analysis.drive_frequency_hz: is required when the channels' carriers take more than two frequencies "
        "(1000, 1010, 1020 Hz): give the frequency to analyse")
    p.write_text(text + "[analysis]\ndrive_frequency_hz = 10.0\n")
    assert load_brain_protocol(p).drive_frequency_hz == 10.0


def test_shipped_protocols_keep_their_frequency(no_run):
    tacs = load_brain_protocol(TACS)
    assert (tacs.drive_frequency_hz, tacs.drive_frequency_source) == (10.0, "the montage waveform's rhythm")
    tdcs = load_brain_protocol(BRAIN / "tdcs-f3-f4.toml")
    assert (tdcs.drive_frequency_hz, tdcs.drive_frequency_source) == (None, "no periodic waveform")


# --- 9: strict JSON -------------------------------------------------------------------------------------
def test_finite_json_replaces_every_non_finite_number():
    obj = {"a": [1.0, math.inf, (np.float64("nan"), -math.inf)], "b": {"c": np.array([1.0, np.inf])}, "d": "inf",
           "e": 3, "f": None}
    assert finite_json(obj) == {"a": [1.0, None, [None, None]], "b": {"c": [1.0, None]}, "d": "inf", "e": 3,
                                "f": None}


def test_metadata_is_strict_json(tmp_path, monkeypatch):
    """Even a non-finite value in the resolved protocol is written as null, never Infinity or NaN."""
    from stimsim.brain._protocol import run_brain_protocol

    bp = load_brain_protocol(TACS, sets=FAST)
    bp = pr.dataclasses.replace(bp, resolved={**bp.resolved, "probe": [math.inf, math.nan]})
    run_brain_protocol(bp, tmp_path / "run", progress=False)

    def no_constants(name):
        raise AssertionError(f"{name} in metadata.json")
    meta = json.loads((tmp_path / "run" / "metadata.json").read_text(), parse_constant=no_constants)
    assert meta["protocol"]["probe"] == [None, None]


def test_one_average_referenced_electrode_reads_zero():
    """Why analysis.eeg_electrodes needs 2: the average reference of one electrode is itself."""
    from stimsim.brain._eeg import eeg_lead_field

    lead = eeg_lead_field(generated_connectome(8, seed=1), ["Cz"])
    assert np.all(lead.matrix == 0.0)


def test_generated_connectome_peak_is_within_its_bytes_per_pair():
    import tracemalloc

    generated_connectome(10, seed=1)
    tracemalloc.start()
    try:
        c = generated_connectome(600, seed=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert c.n_regions == 600
    assert 0.5 * generated_connectome_bytes(600) < peak <= generated_connectome_bytes(600)
