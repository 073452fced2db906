"""Failed and diverged computations in the analysis layer: reported as such, never as a result.

References are independent of the code under test: divergence of a run is confirmed by
``stimsim.simulate`` raising SimulationDiverged; continuation of a warm start by one long run;
dominant frequencies by a numpy periodogram of a densely recorded run; resonance edges by closed
forms and the eigenvalues of the fixed point.
"""
import dataclasses
import io
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import stimsim
from stimsim.analysis import (DivergenceWarning, EntrainmentGrid, LockinGrid, entrainment, frequency_response,
                              resonance_summary, resonance_summary_curve, tongue_width)
from stimsim.analysis import _figures as figs
from stimsim.analysis._entrainment import task_seed, warm_start
from stimsim.protocol import ProtocolError, load_dict, run_protocol
from stimsim.protocol.runner import analysis_stride

HUGE = 1e7                                   # drive amplitude (QIF units) that makes NMM2 diverge


def texts(fig):
    return " | ".join(t.get_text() for ax in fig.axes for t in ax.texts)


# --- 1. diverged runs are flagged, left out of the summaries and warned about -------------------------
def test_huge_drive_really_diverges_in_nmm2_but_not_in_nmm1():
    """The independent fact the flags below must reflect."""
    c = stimsim.preset("pyramidal")
    for f in (10.0, 20.0):
        with pytest.raises(stimsim.SimulationDiverged):
            stimsim.simulate(c, "nmm2", duration_ms=300.0, dt_ms=0.05, input=stimsim.SinusoidInput(HUGE, f),
                             initial="fixed_point")
        ok = stimsim.simulate(c, "nmm1", duration_ms=300.0, dt_ms=0.05, input=stimsim.SinusoidInput(HUGE, f),
                              initial="fixed_point")
        assert np.all(np.isfinite(ok.states))


def test_lockin_divergence_is_flagged_warned_and_not_summarised():
    c = stimsim.preset("pyramidal")
    with pytest.warns(DivergenceWarning, match=r"^2 of 4 lock-in runs diverged"):
        tab, info = frequency_response(c, model=("nmm2", "nmm1"), freqs_hz=[10.0, 20.0], method="both",
                                       amplitude=[HUGE], lockin=LockinGrid(dt_ms=0.05), return_info=True)
    assert tab["diverged"].dtype == bool
    assert (info["diverged_runs"], info["lockin_runs"]) == (2, 4)
    lock = tab[tab.method == "lockin"].set_index("model")
    assert lock.loc["nmm2", "diverged"].all() and not lock.loc["nmm1", "diverged"].any()
    assert not tab[tab.method == "linear"]["diverged"].any()
    assert lock.loc["nmm2", "gain_hz_per_unit"].isna().all()
    res = resonance_summary(tab).set_index(["model", "method"])
    bad = res.loc[("nmm2", "lockin")]
    assert bad["summary"] == "diverged at 2 of 2 frequencies: no peak reported"
    assert bad["n_diverged"] == 2 and not bad["resonance"] and np.isnan(bad["peak_freq_hz"])
    assert res.loc[("nmm2", "linear"), "n_diverged"] == 0 and res.loc[("nmm1", "lockin"), "n_diverged"] == 0
    # a curve with one diverged point reports that, not a peak of the other points
    part = tab[(tab.model == "nmm1") & (tab.method == "lockin")].copy()
    part.loc[part.index[0], "diverged"] = True
    one = resonance_summary(part).iloc[0]
    assert one["summary"] == "diverged at 1 of 2 frequencies: no peak reported" and np.isnan(one["peak_gain_hz_per_unit"])
    # figures draw the valid curves and say what diverged
    fig = figs.resonance_curves(tab)
    assert "all lock-in runs diverged" in texts(fig)
    fig.clf()
    fig = figs.resonance_peaks(resonance_summary(tab))
    assert "runs diverged (curves not shown): NMM2" in texts(fig)
    fig.clf()


def study_protocol(kind, **study):
    circuit = {"preset": "pyramidal"} if kind == "frequency_response" else {"preset": "interneurons", "overrides": {"I": 30.0}}
    return load_dict({"name": "diverging", "circuit": circuit,
                      "run": {"models": ["nmm2", "nmm1"], "duration_ms": 300.0, "dt_ms": 0.05},
                      "stimulation": {"unit": "current"}, "study": dict(kind=kind, **study)})


def test_protocol_lockin_study_reports_divergence(tmp_path):
    p = study_protocol("frequency_response", method="lockin", freqs_hz=[10.0, 20.0], amplitudes=[HUGE])
    stream = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)      # reported by the runner's line, not re-warned
        report = run_protocol(p, out_dir=tmp_path / "out", stream=stream)
    lines = [ln for ln in stream.getvalue().splitlines() if ln.startswith("stimsim: warning:") and "diverged" in ln]
    assert len(lines) == 1 and lines[0].startswith("stimsim: warning: 2 of 4 study runs diverged")
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["diverged_runs"] == 2 and meta["study_runs"] == 4
    fr = pd.read_csv(tmp_path / "out" / "frequency_response.csv")
    assert fr.groupby("model")["diverged"].all().to_dict() == {"nmm1": False, "nmm2": True}
    res = pd.read_csv(tmp_path / "out" / "resonance.csv").set_index("model")
    assert res.loc["nmm2", "summary"].startswith("diverged") and not res.loc["nmm2", "resonance"]
    assert report.metadata["diverged_runs"] == 2


def test_protocol_entrainment_study_with_a_fully_diverged_model(tmp_path):
    p = study_protocol("entrainment", freqs_hz=[125.0, 130.0], amplitudes=[HUGE], settle_ms=100.0, measure_ms=200.0)
    stream = io.StringIO()
    run_protocol(p, out_dir=tmp_path / "out", stream=stream)
    assert stream.getvalue().count("stimsim: warning: 2 of 4 study runs diverged") == 1
    assert json.loads((tmp_path / "out" / "metadata.json").read_text())["diverged_runs"] == 2
    w = pd.read_csv(tmp_path / "out" / "tongue_width.csv").set_index("model")
    assert w.loc["nmm2", "status"] == "all runs diverged" and w.loc["nmm2", "n_diverged"] == 2
    assert w.loc["nmm1", "n_runs"] == 2
    for name in ("arnold_tongue.png", "plv_vs_amplitude.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_protocol_without_divergence_records_zero(tmp_path):
    p = study_protocol("frequency_response", method="linear", freqs_hz=[10.0, 20.0])
    stream = io.StringIO()
    run_protocol(p, out_dir=tmp_path / "out", stream=stream)
    assert "diverged" not in stream.getvalue()
    assert json.loads((tmp_path / "out" / "metadata.json").read_text())["diverged_runs"] == 0


GRID = EntrainmentGrid(dt_ms=0.05, settle_ms=100.0, measure_ms=200.0)
CRIT = dict(segment_cycles=2.0)


def test_entrainment_divergence_flagged_and_figures_cope():
    c = stimsim.preset("interneurons")
    with pytest.warns(DivergenceWarning, match=r"^2 of 4 entrainment runs diverged"):
        tab = entrainment(c, model=("nmm2", "nmm1"), freqs_hz=[125.0, 130.0], amplitudes=[HUGE], grid=GRID,
                          criterion=CRIT)
    assert tab.groupby("model")["diverged"].all().to_dict() == {"nmm1": False, "nmm2": True}
    assert tab[tab.model == "nmm2"]["plv"].isna().all()
    w = tongue_width(tab).set_index("model")
    assert w.loc["nmm2", "n_runs"] == 0 and w.loc["nmm2", "n_diverged"] == 2
    assert w.loc["nmm2", "status"] == "all runs diverged" and np.isnan(w.loc["nmm2", "width_hz"])
    assert w.loc["nmm1", "n_runs"] == 2 and w.loc["nmm1", "status"] == "ok" and w.loc["nmm1", "width_hz"] == 0.0
    for make in (figs.arnold_tongue, figs.plv_vs_amplitude):
        fig = make(tab)
        assert texts(fig).count("all runs diverged") == 1
        fig.clf()


def test_tongue_width_counts_only_valid_runs():
    # hand-made table: the diverged rows claim to be locked at the edges; they must not count
    f = [100.0, 110.0, 120.0, 130.0, 140.0]
    tab = pd.DataFrame({"model": "nmm2", "freq_hz": f, "amplitude_unit": 1.0,
                        "locked_1to1": [True, True, True, False, True],
                        "diverged": [True, False, False, False, True]})
    w = tongue_width(tab).iloc[0]
    assert (w["n_runs"], w["n_diverged"], w["n_locked"]) == (3, 2, 2)
    assert (w["locked_min_hz"], w["locked_max_hz"], w["width_hz"]) == (110.0, 120.0, 10.0)
    assert w["status"] == "2 of 5 runs diverged"


# --- 3a. warm start: continues the trajectory; a diverged warm-up marks its rows ---------------------------
@pytest.mark.parametrize("model, preset, settle, dt, amp, freq", [
    ("nmm1", "jansen-rit", 300.0, 0.1, 20.0, 9.0), ("nmm1", "pyramidal", 300.05, 0.05, 0.5, 20.0),
    ("nmm2", "interneurons", 300.05, 0.05, 2.0, 125.0)])
def test_warm_start_continues_the_trajectory(model, preset, settle, dt, amp, freq):
    """A run from the warm-up state == one long run (settle 300.05 ms: a step count not divisible by 4).

    Undriven: bit for bit. Driven (as in entrainment, drive from the warm-up's end): the long run gets
    0 then amp sin(2 pi f (t - settle)) sampled at every RK4 stage (dt/2), continuous at the switch.
    """
    c = stimsim.preset(preset)
    grid = EntrainmentGrid(dt_ms=dt, settle_ms=settle, measure_ms=300.0)
    y0, bad, _ = warm_start([c], stimsim.models.get(model), grid)
    assert not bad.any()
    n, T = int(round(settle / dt)), 200.0
    after = stimsim.simulate(c, model, duration_ms=T, dt_ms=dt, initial=y0[0])
    long = stimsim.simulate(c, model, duration_ms=n * dt + T, dt_ms=dt)
    np.testing.assert_array_equal(after.states, long.states[n:])
    driven = stimsim.simulate(c, model, duration_ms=T, dt_ms=dt, initial=y0[0],
                              input=stimsim.SinusoidInput(amp, freq, -np.pi / 2))
    t_half = np.arange(2 * (n + int(round(T / dt))) + 1) * dt / 2
    u = np.where(t_half >= n * dt - 1e-9, amp * np.sin(2 * np.pi * freq * (t_half - n * dt) / 1000.0), 0.0)
    long_driven = stimsim.simulate(c, model, duration_ms=n * dt + T, dt_ms=dt,
                                   input=stimsim.SampledInput(np.repeat(u[:, None], c.n_populations, 1), dt / 2))
    scale = np.abs(long_driven.states[n:]).max(axis=0)
    assert np.max(np.abs(driven.states - long_driven.states[n:]) / scale) < 1e-11
    # not vacuous: the drive changes the trajectory by far more than that
    assert np.max(np.abs(driven.states - after.states) / scale) > 1e-4


def test_diverged_warm_up_marks_its_circuit_diverged():
    c = stimsim.preset("interneurons")
    stiff = c.replace(eta_bar=1e6)                        # undriven NMM2 blows up at dt = 0.05 ms
    with pytest.raises(stimsim.SimulationDiverged):
        stimsim.simulate(stiff, "nmm2", duration_ms=100.0, dt_ms=0.05)
    _, bad, _ = warm_start([c, stiff], stimsim.models.get("nmm2"), GRID)
    assert bad.tolist() == [False, True]
    with pytest.warns(DivergenceWarning, match=r"^2 of 4 entrainment runs"):
        tab = entrainment([c, stiff], freqs_hz=[129.0], amplitudes=[0.0, 2.0], grid=GRID, criterion=CRIT)
    assert tab.groupby("set")["diverged"].all().to_dict() == {0: False, 1: True}
    assert not tab[tab.set == 0]["diverged"].any() and tab[tab.set == 0]["plv"].notna().all()


# --- 3b. surrogate seeds depend on the task, not on the batch -------------------------------------------
def test_plv_surrogate_does_not_depend_on_the_batch():
    c = stimsim.preset("interneurons")
    alone = entrainment(c, freqs_hz=[120.0], amplitudes=[0.0, 2.0], grid=GRID, criterion=CRIT)
    others = [c.replace(eta_bar=c.populations[0].eta_bar + 0.5), c, c.replace(I=25.0)]
    batch = entrainment(others, freqs_hz=[112.0, 120.0, 135.0], amplitudes=[0.0, 1.0, 2.0], grid=GRID, criterion=CRIT)
    cols = ["plv", "plv_1to1", "plv_surrogate", "plv_undriven", "natural_freq_hz", "mean_freq_hz"]
    a = alone.set_index("amplitude_unit")[cols]
    b = batch[(batch.set == 1) & (batch.freq_hz == 120.0)].set_index("amplitude_unit").loc[a.index, cols]
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    # not vacuous: here the surrogate percentile (random) sets the threshold, not the undriven PLV
    assert (a["plv_surrogate"] > a["plv_undriven"]).loc[2.0]
    other_seed = entrainment(c, freqs_hz=[120.0], amplitudes=[2.0], grid=GRID, criterion=dict(CRIT, seed=1))
    assert other_seed["plv_surrogate"].iloc[0] != a.loc[2.0, "plv_surrogate"]


def test_task_seed_is_a_function_of_content():
    c = stimsim.preset("interneurons")
    s = task_seed(0, "nmm2", c, 120.0, 2.0).generate_state(4)
    np.testing.assert_array_equal(s, task_seed(0, "nmm2", stimsim.preset("interneurons"), 120.0, 2.0).generate_state(4))
    for other in (task_seed(1, "nmm2", c, 120.0, 2.0), task_seed(0, "nmm1", c, 120.0, 2.0),
                  task_seed(0, "nmm2", c.replace(I=30.0 + 1e-12), 120.0, 2.0),
                  task_seed(0, "nmm2", c, 120.0 + 1e-12, 2.0), task_seed(0, "nmm2", c, 120.0, 2.5)):
        assert not np.array_equal(s, other.generate_state(4))


# --- 3c. a maximum at either grid edge is not a resonance -------------------------------------------------
def lorentz(f, f0=40.0, gamma=2 * np.pi * 3.0):
    w, w0 = 2 * np.pi * np.asarray(f), 2 * np.pi * f0
    return 1.0 / np.abs(w0 ** 2 - w ** 2 + 2j * gamma * w)


def test_peak_at_either_grid_edge_is_rising_to_the_edge():
    below = np.linspace(1.0, 30.0, 30)            # all below the 40 Hz peak: rising to the high edge
    above = np.linspace(60.0, 100.0, 30)          # all above: rising to the low edge
    inside = np.linspace(1.0, 100.0, 100)
    hi, lo, mid = (resonance_summary_curve(f, lorentz(f)) for f in (below, above, inside))
    assert (hi["resonance"], hi["grid_edge"], hi["peak_freq_hz"]) == (False, "high", 30.0)
    assert hi["peak_gain"] == pytest.approx(lorentz(30.0), rel=1e-12)
    assert (lo["resonance"], lo["grid_edge"], lo["peak_freq_hz"]) == (False, "low", 60.0)
    assert mid["resonance"] and mid["grid_edge"] == "none"
    assert mid["peak_freq_hz"] == pytest.approx(np.sqrt(40.0 ** 2 - 2 * 3.0 ** 2), abs=0.05)


def test_resonance_summary_edges_on_nmm2_pyramidal():
    c = stimsim.preset("pyramidal")
    f_ev = stimsim.fixed_points(c).query("model == 'nmm2'")["leading_freq_hz"].iloc[0]   # ~47 Hz
    # below the peak (and above the gain minimum near 15 Hz) the gain rises; above it, it falls
    low = frequency_response(c, model="nmm2", freqs_hz=np.arange(20.0, 45.0), labels=[{"grid": "low"}])
    high = frequency_response(c, model="nmm2", freqs_hz=np.arange(70.0, 150.0), labels=[{"grid": "high"}])
    s = resonance_summary(pd.concat([low, high])).set_index("grid")
    assert 44.0 < f_ev < 70.0
    assert s.loc["low", "summary"] == "rising to the grid edge (maximum at the highest frequency, 44 Hz)"
    assert s.loc["high", "summary"] == "rising to the grid edge (maximum at the lowest frequency, 70 Hz)"
    assert not s["resonance"].any()


# --- 2. summaries are computed on a dense series, whatever record_every ---------------------------------------
@pytest.mark.parametrize("dt, every, stride", [(0.02, 250, 25), (0.05, 20, 10), (0.05, 7, 7), (0.05, 13, 1),
                                              (1.0, 10, 1), (0.01, 1, 1), (0.1, 6, 3)])
def test_analysis_stride(dt, every, stride):
    assert analysis_stride(dt, every) == stride


def periodogram_peak_hz(y, dt_ms, pad=16):
    """Frequency of the largest peak of the zero-padded periodogram (numpy only), Hz."""
    y = y - y.mean()
    n = pad * y.size
    p = np.abs(np.fft.rfft(y, n)) ** 2
    f = np.fft.rfftfreq(n, dt_ms / 1000.0)
    p[f < 0.5] = 0.0
    return f[np.argmax(p)]


def test_interneuron_rhythm_not_aliased_by_thinned_records(tmp_path):
    d = {"name": "ing", "circuit": {"preset": "interneurons", "overrides": {"I": 30.0}},
         "run": {"models": ["nmm2"], "duration_ms": 2000.0, "dt_ms": 0.02, "transient_ms": 1000.0,
                 "record_every": 250, "initial": "synapses_at_rest"}}
    report = run_protocol(load_dict(d), out_dir=tmp_path / "out")
    dense = stimsim.simulate(stimsim.preset("interneurons", I=30.0), "nmm2", duration_ms=2000.0, dt_ms=0.02,
                             record_every=1)
    f_ref = periodogram_peak_hz(dense.rate_hz[50000:, 0], 0.02)
    assert 120.0 < f_ref < 140.0
    got = report.summary.set_index("model").loc["nmm2", "dominant_frequency_hz"]
    assert got == pytest.approx(f_ref, abs=0.1)
    # the CSV is the record_every = 250 series, sample for sample
    thin = stimsim.simulate(stimsim.preset("interneurons", I=30.0), "nmm2", duration_ms=2000.0, dt_ms=0.02,
                            record_every=250)
    ts = pd.read_csv(tmp_path / "out" / "timeseries.csv")
    np.testing.assert_allclose(ts["time_ms"], thin.time_ms[thin.time_ms >= 1000.0 - 1e-9], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ts["rate_hz"], thin.rate_hz[thin.time_ms >= 1000.0 - 1e-9, 0], rtol=1e-12)
    # what the thinned series alone would have said
    assert abs(periodogram_peak_hz(thin.rate_hz[thin.time_ms >= 1000.0 - 1e-9, 0], 5.0) - f_ref) > 20.0


def test_frequency_near_the_analysis_nyquist_is_refused(tmp_path):
    # dt = 1 ms (pyramidal: fastest tau 10 ms) analyses every step: Nyquist 500 Hz; a 450 Hz drive is refused
    d = {"name": "coarse", "circuit": {"preset": "pyramidal"},
         "run": {"models": ["nmm2"], "duration_ms": 500.0, "dt_ms": 1.0, "record_every": 1},
         "stimulation": {"unit": "current", "waveforms": [{"kind": "sine", "amplitude": 0.01,
                                                           "convention": "zero_to_peak", "frequency_hz": 450.0}]}}
    near = r"nmm2 P: (dominant|drive)_frequency_hz = 450 Hz is within 20% of the Nyquist frequency 500 Hz"
    with pytest.raises(ProtocolError, match=near):
        run_protocol(load_dict(d), out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_entrainment_refuses_undersampled_records():
    c = stimsim.preset("interneurons")
    # 2 ms records: 2 samples per period of 4 x 125 Hz, refused before anything runs
    with pytest.raises(ValueError, match=r"record_every=40 records every 2 ms, fewer than 4 samples per period"):
        entrainment(c, freqs_hz=[125.0], amplitudes=[0.0], grid=dataclasses.replace(GRID, record_every=40), criterion=CRIT)
    # max_denominator = 1 allows 1 ms records (Nyquist 500 Hz): the ~129 Hz rhythm is fine ...
    ok = entrainment(c, freqs_hz=[125.0], amplitudes=[0.0], grid=dataclasses.replace(GRID, record_every=20),
                     criterion=dict(CRIT, max_denominator=1))
    assert ok["natural_freq_hz"].iloc[0] == pytest.approx(129.05, abs=0.5)
    # ... but 3.5 ms records (Nyquist 143 Hz) put it within 20 % of Nyquist: refused, not reported
    with pytest.raises(ValueError, match=r"natural_freq_hz = 129.* Hz is within 20% of the Nyquist frequency 142.857 Hz"):
        entrainment(c, freqs_hz=[70.0], amplitudes=[0.0], grid=dataclasses.replace(GRID, record_every=70),
                    criterion=dict(CRIT, max_denominator=1))
