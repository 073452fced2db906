"""Sweeps (stimsim.sweep): designs, task keys, executors, the resumable store, failures, the CLI.

Independent references: the linear response of models.md M8 (the lock-in of a small drive must
give the Jacobian's gain), and reruns of the same sweep under other chunk sizes, executors and
interruptions (every table must be identical value for value).
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stimsim
from stimsim.cli import main
from stimsim.protocol import ProtocolError
from stimsim.protocol.schema import load_dict
from stimsim.sweep import Design, run_sweep

BASE = {
    "name": "sw",
    "circuit": {"preset": "pyramidal"},
    "run": {"models": ["nmm2", "nmm1"], "duration_ms": 100.0, "dt_ms": 0.05},
    "stimulation": {"unit": "field"},
}


def protocol(sweep, **top):
    data = json.loads(json.dumps(BASE))
    data.update(top)
    data["sweep"] = sweep
    return load_dict(data)


def lockin_sweep(**extra):
    s = {"kind": "lockin", "settle_ms": 200.0, "measure_ms": 200.0, "amplitude": 1.0,
         "parameters": {"J": [2.0, 8.0], "eta_bar": [0.0, 2.0], "frequency_hz": [10.0, 40.0, 70.0]}}
    s.update(extra)
    return s


def read(out):
    t = pd.read_csv(Path(out) / "results.csv", dtype={"task_key": str, "reason": str}, keep_default_na=False,
                    na_values=[""])
    t["reason"] = t["reason"].fillna("")
    return t


# --- designs -------------------------------------------------------------------------------------
def test_designs():
    g = Design("grid", {"a": [1, 2], "b": [10, 20, 30]})
    np.testing.assert_array_equal(g.points(), [[1, 10], [1, 20], [1, 30], [2, 10], [2, 20], [2, 30]])
    assert Design("list", {"a": [1, 2, 3], "b": [4, 5, 6]}).points().tolist() == [[1, 4], [2, 5], [3, 6]]
    lhs = Design("lhs", {"a": [0, 1], "b": [1, 100]}, n=50, seed=4, log=("b",))
    p = lhs.points()
    np.testing.assert_array_equal(p, Design("lhs", {"a": [0, 1], "b": [1, 100]}, n=50, seed=4, log=("b",)).points())
    # a Latin hypercube has one point in each of the n strata of every axis (McKay et al. 1979)
    assert sorted(np.floor(p[:, 0] * 50).astype(int)) == list(range(50))
    assert sorted(np.floor(np.log(p[:, 1]) / np.log(100) * 50).astype(int)) == list(range(50))
    with pytest.raises(ValueError, match="same length"):
        Design("list", {"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match="low < high"):
        Design("random", {"a": [1, 0]}, n=3)


# --- science: the lock-in of a weak drive is the linear response ---------------------------------
def test_lockin_sweep_matches_the_linear_response(tmp_path):
    p = protocol(lockin_sweep(amplitude=0.01, settle_ms=1500.0, measure_ms=500.0))
    task, design, _ = p.sweep
    rep = run_sweep(task, design, tmp_path / "s", progress=False)
    t = rep.table
    assert (t.status == "ok").all() and len(t) == design.n_points * 2
    from stimsim.analysis import Drive
    from stimsim.analysis._linear import state_space

    for _, row in t.iterrows():
        c = stimsim.preset("pyramidal", J=row.J, eta_bar=row.eta_bar)
        ss = state_space(c, row.model, Drive(unit="field").gains(c), "P")
        H = ss.transfer([row.frequency_hz])[0]
        assert row.gain == pytest.approx(abs(H), rel=2e-3)
        assert np.angle(np.exp(1j * (row.phase_rad - np.angle(H)))) == pytest.approx(0.0, abs=3e-3)


# --- identical tables whatever the chunking, executor or interruption ---------------------------
def test_chunk_size_and_executor_do_not_change_the_table_with_a_stochastic_drive(tmp_path):
    p = protocol(lockin_sweep(noise_std=2.0, seed=7, design="lhs", n=40,
                              parameters={"J": [0.0, 12.0], "eta_bar": [-1.0, 5.0], "frequency_hz": [5.0, 80.0]}))
    task, design, _ = p.sweep
    a = run_sweep(task, design, tmp_path / "a", chunk_size=7, progress=False).table
    b = run_sweep(task, design, tmp_path / "b", chunk_size=64, progress=False, executor="serial").table
    pd.testing.assert_frame_equal(a, b)
    # the noise matters (it is in the result) and depends on the task, not on its position
    quiet = run_sweep(*protocol(lockin_sweep(design="lhs", n=40, seed=7, parameters={
        "J": [0.0, 12.0], "eta_bar": [-1.0, 5.0], "frequency_hz": [5.0, 80.0]})).sweep[:2],
        tmp_path / "c", progress=False).table
    assert not np.allclose(a.response, quiet.response)


def test_dask_local_cluster_gives_the_local_table(tmp_path):
    pytest.importorskip("dask.distributed")
    p = protocol(lockin_sweep(noise_std=1.0))
    task, design, _ = p.sweep
    local = run_sweep(task, design, tmp_path / "local", progress=False).table
    rep = run_sweep(task, design, tmp_path / "dask", workers=2, chunk_size=5, progress=False)
    pd.testing.assert_frame_equal(local, rep.table)
    assert rep.metadata["executor"]["executor"] == "dask" and rep.metadata["executor"]["workers"] == 2
    # thread policy: numba threads x Dask threads <= cores
    assert rep.metadata["executor"]["numba_threads_per_worker"] * 2 <= max(2, os.cpu_count())


SLOW = textwrap.dedent("""
    name = "slow"
    [circuit]
    preset = "pyramidal"
    [run]
    models = ["nmm2", "nmm1"]
    duration_ms = 100.0
    dt_ms = 0.05
    [stimulation]
    unit = "field"
    [sweep]
    kind = "lockin"
    design = "lhs"
    n = 480
    seed = 3
    noise_std = 0.5
    settle_ms = 200.0
    measure_ms = 200.0
    frequency_hz = 20.0
    [sweep.parameters]
    J = [0.0, 12.0]
    eta_bar = [-1.0, 5.0]
""")


def test_killed_sweep_resumes_without_losing_or_duplicating_a_point(tmp_path):
    proto = tmp_path / "slow.toml"
    proto.write_text(SLOW)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "stimsim.cli", "sweep", str(proto), "--out", str(out),
                             "--chunk-size", "32", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "parts").glob("part-*.csv"))) < 2 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    parts = len(list((out / "parts").glob("part-*.csv")))
    assert 2 <= parts < 15, "the sweep must be killed partway"
    assert not (out / "results.csv").exists()
    # a new sweep into the folder is refused; --resume finishes it
    assert main(["sweep", str(proto), "--out", str(out), "--quiet"]) == 2
    assert main(["sweep", str(proto), "--out", str(out), "--resume", "--quiet", "--chunk-size", "50"]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["resumed_from"] == 32 * parts and meta["computed_this_run"] == 480 - 32 * parts
    full = tmp_path / "full"
    assert main(["sweep", str(proto), "--out", str(full), "--quiet"]) == 0
    a, b = read(out), read(full)
    assert len(a) == 960 and a.task_key.is_unique and sorted(a.point_id.unique()) == list(range(480))
    pd.testing.assert_frame_equal(a, b)


def test_failing_points_are_recorded_and_the_rest_finishes(tmp_path):
    # tau_s = 0.2 ms needs dt <= 0.02 ms: failed before running, with the reason; the rest runs
    p = protocol(lockin_sweep(frequency_hz=20.0, parameters={"tau_s": [0.2, 10.0], "J": [5.0, 8.0]}))
    task, design, _ = p.sweep
    t = run_sweep(task, design, tmp_path / "f", progress=False).table
    failed = t[t.status == "failed"]
    assert set(failed.tau_s) == {0.2} and failed.reason.str.contains("dt_ms").all()
    assert (t[t.tau_s == 10.0].status == "ok").all()
    assert len(t) == 8 and t.task_key.is_unique and failed.response.isna().all()
    # a drive of 1e3 QIF units makes NMM2 blow up at dt = 0.05 ms: flagged diverged, not a number
    data = json.loads(json.dumps(BASE))
    data["stimulation"]["unit"] = "current"
    data["sweep"] = lockin_sweep(frequency_hz=20.0, parameters={"amplitude": [0.1, 1e3]})
    t = run_sweep(*load_dict(data).sweep[:2], tmp_path / "d", progress=False).table
    bad = t[t.status == "diverged"]
    assert list(bad.model) == ["nmm2"] and list(bad.amplitude) == [1e3]
    assert bad.response.isna().all() and bad.reason.str.contains("non-finite").all()
    assert (t[t.status != "diverged"].status == "ok").all()


# --- the store refuses what would mix sweeps -----------------------------------------------------
def test_store_refuses_a_different_sweep_and_a_second_writer(tmp_path):
    task, design, _ = protocol(lockin_sweep()).sweep
    run_sweep(task, design, tmp_path / "s", progress=False)
    task2, design2, _ = protocol(lockin_sweep(amplitude=2.0)).sweep
    with pytest.raises(ValueError, match="different sweep"):
        run_sweep(task2, design2, tmp_path / "s", resume=True, progress=False)
    with pytest.raises(ValueError, match="holds a sweep already"):
        run_sweep(task, design, tmp_path / "s", progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        run_sweep(task, design, tmp_path / "other", progress=False)
    # resuming a finished sweep computes nothing and gives the same table
    before = read(tmp_path / "s")
    rep = run_sweep(task, design, tmp_path / "s", resume=True, progress=False)
    assert rep.metadata["computed_this_run"] == 0
    pd.testing.assert_frame_equal(before, rep.table)


@pytest.mark.parametrize("sweep, match", [
    (lockin_sweep(colour="red"), r"sweep\.colour: unknown key"),
    (lockin_sweep(parameters={"nope": [1, 2]}), r"sweep\.parameters\.nope: unknown continuation parameter"),
    (lockin_sweep(parameters={"tau_s": [-1.0, 2.0]}), "must be > 0"),
    (lockin_sweep(parameters={"J": [1.0, 2.0]}), r"sweep\.frequency_hz: is required"),
    (lockin_sweep(design="lhs", parameters={"J": [3.0, 1.0], "frequency_hz": [5.0, 10.0]}), "low < high"),
    (lockin_sweep(n=5), r"sweep\.n: applies only"),
    (lockin_sweep(frequency_hz=20.0, parameters={"J": [1.0]}, measure_ms=10.0), "less than one cycle"),
    (lockin_sweep(parameters={"J": [1.0], "frequency_hz": [20000.0]}), "Nyquist"),
    ({"kind": "resonance", "parameters": {"J": [1.0, 2.0]}}, r"sweep\.freqs_hz: is required"),
])
def test_bad_sweep_tables_are_clear_errors(sweep, match):
    with pytest.raises(ProtocolError, match=match):
        protocol(sweep)


def test_sweep_protocol_with_waveforms_is_refused():
    data = json.loads(json.dumps(BASE))
    data["stimulation"]["waveforms"] = [{"kind": "sine", "amplitude": 1.0, "frequency_hz": 10.0,
                                         "convention": "zero_to_peak"}]
    data["sweep"] = lockin_sweep()
    with pytest.raises(ProtocolError, match="remove the waveforms"):
        load_dict(data)


def test_resonance_and_fixed_point_kinds(tmp_path):
    t = run_sweep(*protocol({"kind": "resonance", "freqs_hz": {"start": 1, "stop": 150, "num": 150},
                             "parameters": {"J": [0.0, 8.0, 12.0]}}).sweep[:2], tmp_path / "r", progress=False).table
    nmm2 = t[t.model == "nmm2"].sort_values("J")
    assert nmm2.resonance.tolist() == [True, True, True]
    assert (nmm2.peak_freq_hz.diff().dropna() > 0).all()            # the peak moves up with J (M7.2)
    assert not t[t.model == "nmm1"].resonance.any()                  # NMM1 is low-pass
    f = run_sweep(*protocol({"kind": "fixed_points", "parameters": {"J": [15.0], "eta_bar": [-4.0, 0.0]}}).sweep[:2],
                  tmp_path / "f", progress=False).table
    counts = f[f.model == "nmm2"].sort_values("eta_bar").n_fixed_points.tolist()
    assert counts == [3, 1]                  # bistable at eta_bar = -4 (between the folds of J = 15)


def test_stimsim_run_refuses_a_sweep_protocol(tmp_path, capsys):
    proto = tmp_path / "s.toml"
    proto.write_text(SLOW)
    assert main(["run", str(proto), "--out", str(tmp_path / "o")]) == 2
    assert "stimsim sweep" in capsys.readouterr().err


def test_dask_executor_without_dask_is_a_clear_error(monkeypatch):
    import builtins

    from stimsim.sweep import make_executor

    real = builtins.__import__

    def no_dask(name, *a, **k):
        if name.startswith("dask"):
            raise ImportError("no dask here")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(ValueError, match=r"pip install 'stimsim\[distributed\]'"):
        make_executor("dask", workers=2)


def test_bifurcation_kind_counts_hopf_points_against_the_diagram(tmp_path):
    from stimsim.continuation import bifurcation_diagram

    p = load_dict({"name": "b", "circuit": {"preset": "interneurons"},
                   "run": {"models": ["nmm2", "nmm1"], "duration_ms": 10.0, "dt_ms": 0.01},
                   "stimulation": {"unit": "current"},
                   "sweep": {"kind": "bifurcation", "bifurcation_parameter": "I", "bifurcation_range": [-20.0, 100.0],
                             "parameters": {"tau_s/tau_m": [0.2, 0.3, 0.5, 1.0]}}})
    t = run_sweep(*p.sweep[:2], tmp_path / "b", progress=False).table
    assert (t.status == "ok").all()
    # NMM2: two Hopf points for fast synapses, none past the turn of the Hopf curve (~0.8); NMM1 none
    # (at 0.2 the upper Hopf point lies above I = 100: one in range; stimsim.reproduce part b)
    assert t[t.model == "nmm2"].sort_values("tau_s/tau_m").n_hopf.tolist() == [1, 2, 2, 0]
    assert (t[t.model == "nmm1"].n_hopf == 0).all()
    c = stimsim.preset("interneurons").replace(tau_s=0.5 * 7.5)
    h = bifurcation_diagram(c, "nmm2", "I", (-20, 100), cycles=False).hopf_points()[0]
    row = t[(t.model == "nmm2") & (t["tau_s/tau_m"] == 0.5)].iloc[0]
    assert row.first_hopf == pytest.approx(h.p[0], rel=1e-10) and row.first_hopf_l1 < 0


def test_sigterm_keeps_the_finished_chunks_and_says_how_to_resume(tmp_path):
    proto = tmp_path / "slow.toml"
    proto.write_text(SLOW)
    out = tmp_path / "term"
    proc = subprocess.Popen([sys.executable, "-m", "stimsim.cli", "sweep", str(proto), "--out", str(out),
                             "--chunk-size", "32", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "parts").glob("part-*.csv"))) < 1 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert "--resume" in err and "finished chunk(s) are kept" in err
    assert list((out / "parts").glob("part-*.csv")) and not list((out / "parts").glob(".*.tmp"))


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_holds_it(tmp_path):
    from stimsim.sweep import SweepStore

    held = SweepStore(tmp_path / "s").open({"a": 1}, resume=False)
    try:
        with pytest.raises(ValueError, match="being written by another stimsim run"):
            SweepStore(tmp_path / "s").open({"a": 1}, resume=True)
    finally:
        held.close()


def test_entrainment_kind_equals_the_entrainment_analysis_per_point(tmp_path):
    data = {"name": "e", "circuit": {"preset": "interneurons"},
            "run": {"models": ["nmm2", "nmm1"], "duration_ms": 10.0, "dt_ms": 0.01},
            "stimulation": {"unit": "current"},
            "sweep": {"kind": "entrainment", "settle_ms": 300.0, "measure_ms": 600.0, "seed": 3,
                      "parameters": {"frequency_hz": [110.0, 129.0], "amplitude": [0.0, 2.0]}}}
    p = load_dict(data)
    t = run_sweep(*p.sweep[:2], tmp_path / "e", progress=False, chunk_size=3).table
    assert (t.status == "ok").all()
    nmm2 = t[t.model == "nmm2"].set_index(["frequency_hz", "amplitude"])
    # the ING rhythm (129 Hz, models.md M7.1) locks 1:1 to a 2-unit drive at 129 Hz; undriven it does not
    assert nmm2.loc[(129.0, 2.0), "locked_1to1"] and not nmm2.loc[(129.0, 0.0), "locked_1to1"]
    assert nmm2.self_oscillating.all() and not t[t.model == "nmm1"].self_oscillating.any()
    from stimsim.analysis import EntrainmentGrid, LockingCriterion

    ref = stimsim.entrainment(stimsim.preset("interneurons"), "nmm2", freqs_hz=[110.0], amplitudes=[2.0],
                              grid=EntrainmentGrid(dt_ms=0.01, settle_ms=300.0, measure_ms=600.0,
                                                   record_every=p.sweep[0].record_every),
                              criterion=LockingCriterion(seed=3)).iloc[0]
    row = nmm2.loc[(110.0, 2.0)]
    for col in ("plv", "plv_1to1", "mean_freq_hz", "natural_freq_hz"):
        assert row[col] == ref[col], col
    assert row["locked_1to1"] == ref["locked_1to1"] and row["ratio"] == ref["ratio"]
