"""Robustness of the command line and of result writing.

Bad input (including parameters with no fixed point or that diverge) is one line with exit code 2,
found before anything runs; internal errors are shown as such (exit 1); output folders are checked
before the computation and claimed against concurrent runs; SIGTERM and killed processes leave no
staging folder behind; files get the user's umask; protocol files are decoded with a BOM, named
from their file name, and refused before running when they would need too much memory.
"""
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import stimsim
from stimsim.cli import main
from stimsim.errors import InputError
from stimsim.protocol import ProtocolError, load_dict, load_protocol, run_protocol

# lambda_mm given: with J < 0 the one population counts as inhibitory, whose default lambda is 0
TINY = {"name": "tiny", "circuit": {"preset": "pyramidal"},
        "run": {"duration_ms": 50.0, "dt_ms": 0.05, "record_every": 20},
        "stimulation": {"coupling": {"lambda_mm": 0.12}, "waveforms": [{"kind": "dc", "amplitude": 1.0}]}}

#: a protocol whose run takes seconds and whose write phase (a CSV of 200 000 rows, a figure) is long
#: enough to be interrupted
SLOW_TOML = """
name = "slow"
[circuit]
preset = "pyramidal"
[run]
duration_ms = 5000.0
dt_ms = 0.05
record_every = 1
[[stimulation.waveforms]]
kind = "sine"
amplitude = 1.0
convention = "zero_to_peak"
frequency_hz = 10.0
"""


def run_cli(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines()


def cli_process(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "stimsim.cli", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def leftovers(folder):
    """Hidden staging folders and lock files in ``folder``."""
    return sorted(p.name for p in Path(folder).iterdir() if ".partial-" in p.name or p.name.endswith("-lock"))


def write_toml(path, data):
    lines = []

    def emit(table, prefix):
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and not (
            isinstance(v, list) and v and isinstance(v[0], dict))}
        if prefix:
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{k} = {json.dumps(v)}")
        for k, v in table.items():
            if isinstance(v, dict):
                emit(v, f"{prefix}.{k}" if prefix else k)
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                for item in v:
                    lines.append(f"[[{prefix}.{k}]]" if prefix else f"[[{k}]]")
                    lines.extend(f"{a} = {json.dumps(b)}" for a, b in item.items())
    emit(data, "")
    Path(path).write_text("\n".join(lines) + "\n")


# --- 1a: divergence and missing fixed points are bad input, one line, exit 2 ------------------------------
@pytest.mark.parametrize("sets, message", [
    (["J=1e6", "eta_bar=1e6"], "simulation diverged: nmm2 trajectory became non-finite"),
    (["J=-1e300"], "no fixed point found for circuit 'pyramidal': the coupling J['P', 'P']"),
    (["eta_bar=-1e308"], "the initial state of nmm2 (synapses at rest"),
])
def test_simulate_diverging_or_without_fixed_point_is_one_line_exit_2(tmp_path, capsys, sets, message):
    out = tmp_path / "out"
    argv = ["simulate", "pyramidal", "--duration-ms", "20", "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    code, err = run_cli(argv, capsys)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("stimsim: error: ") and message in err[0]
    assert list(tmp_path.iterdir()) == []


def test_fixed_points_without_fixed_point_is_exit_2(capsys):
    code, err = run_cli(["fixed-points", "pyramidal", "--set", "J=-1e300"], capsys)
    assert code == 2 and len(err) == 1 and "no fixed point found" in err[0]


# --- 1b: output folders are checked before anything is computed ------------------------------------------
@pytest.fixture
def no_computation(monkeypatch):
    """Fail the test if a simulation or the kernel compilation starts."""
    import stimsim._simulate
    import stimsim.protocol.runner

    def forbidden(*args, **kwargs):
        raise AssertionError("the computation started before the output folder was checked")

    monkeypatch.setattr(stimsim, "simulate", forbidden)
    monkeypatch.setattr(stimsim._simulate, "prepare_kernels", forbidden)
    monkeypatch.setattr(stimsim.protocol.runner, "drive_input", forbidden)
    monkeypatch.setattr(stimsim.protocol.runner, "simulate_models", forbidden)


def bad_outputs(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    return [(tmp_path / "afile", "exists and is not a folder"),
            (tmp_path / "afile" / "sub" / "out", f"{tmp_path / 'afile'} is a file, not a folder"),
            (tmp_path / "full", "already exists and is not empty")]


@pytest.mark.parametrize("command", ["simulate", "run"])
def test_bad_output_folder_refused_before_computing(tmp_path, monkeypatch, capsys, no_computation, command):
    protocol = tmp_path / "p.toml"
    write_toml(protocol, TINY)
    for out, message in bad_outputs(tmp_path):
        argv = (["simulate", "pyramidal", "--duration-ms", "20"] if command == "simulate"
                else ["run", str(protocol)]) + ["--out", str(out)]
        code, err = run_cli(argv, capsys)
        assert code == 2, out
        assert len(err) == 1 and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "full", "p.toml"]
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_unwritable_parent_refused_before_computing(tmp_path, capsys, no_computation):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, err = run_cli(["simulate", "pyramidal", "--out", str(locked / "out")], capsys)
    finally:
        locked.chmod(0o700)
    assert code == 2 and "no permission to write" in err[0]


def test_parent_folders_created_for_a_failed_run_are_removed(tmp_path, capsys):
    out = tmp_path / "a" / "b" / "out"
    code, err = run_cli(["simulate", "pyramidal", "--duration-ms", "20", "--set", "J=1e6",
                         "--set", "eta_bar=1e6", "--out", str(out)], capsys)
    assert code == 2 and "diverged" in err[0]
    assert list(tmp_path.iterdir()) == []


# --- 1c: two runs into one folder ----------------------------------------------------------------------
def test_two_processes_into_one_output_folder(tmp_path):
    (tmp_path / "slow.toml").write_text(SLOW_TOML)
    first = cli_process(["run", "slow.toml", "--out", "out", "--quiet"], tmp_path)
    deadline = time.monotonic() + 120
    while not leftovers(tmp_path) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)                                 # the first run has claimed the folder
    second = cli_process(["run", "slow.toml", "--out", "out", "--quiet"], tmp_path)
    _, err2 = second.communicate(timeout=300)
    _, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.returncode == 2, err2
    lines = err2.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stimsim: error: output folder out ")
    assert ("is being written by another stimsim run (pid " in lines[0]
            or "already exists and is not empty" in lines[0])
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"metadata.json", "timeseries.csv"}
    assert leftovers(tmp_path) == []


def test_claimed_folder_is_refused_in_process(tmp_path):
    from stimsim.io import staged_directory

    staging = staged_directory(tmp_path / "out")
    with staging as stage:
        (stage / "a.txt").write_text("x")
        with pytest.raises(InputError, match=rf"being written by another stimsim run \(pid {os.getpid()}\)"):
            with staged_directory(tmp_path / "out"):
                pass
    assert staging.final_dir == tmp_path / "out" and not staging.redirected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_folder_filled_meanwhile_by_another_program_goes_to_a_sibling(tmp_path):
    from stimsim.io import staged_directory

    staging = staged_directory(tmp_path / "out")
    with staging as stage:
        (stage / "a.txt").write_text("mine")
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "theirs.txt").write_text("theirs")
    assert staging.redirected and staging.final_dir == tmp_path / "out-2"
    assert (tmp_path / "out-2" / "a.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out-2"]


# --- 1d: internal errors are not reported as bad input ---------------------------------------------------
def test_internal_value_error_is_exit_1_with_traceback(tmp_path, monkeypatch, capsys):
    import stimsim.protocol.runner

    def broken(*args, **kwargs):
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr(stimsim.protocol.runner, "summary_table", broken)
    write_toml(tmp_path / "p.toml", TINY)
    code = main(["run", str(tmp_path / "p.toml"), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" in err
    assert "stimsim: internal error: ValueError: an internal inconsistency (a bug in stimsim" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]


def test_broken_protocol_subpackage_is_not_hidden(monkeypatch, capsys):
    import stimsim.protocol

    monkeypatch.delattr(stimsim.protocol, "cli", raising=False)
    monkeypatch.setitem(sys.modules, "stimsim.protocol.cli", None)       # import fails
    assert main(["presets"]) == 1
    err = capsys.readouterr().err
    assert "stimsim: internal error: ModuleNotFoundError" in err and "stimsim.protocol.cli" in err


def test_input_errors_are_value_errors_and_protocol_errors_are_input_errors():
    assert issubclass(InputError, ValueError) and issubclass(ProtocolError, InputError)
    with pytest.raises(InputError, match="unknown model"):
        stimsim.simulate(stimsim.preset("pyramidal"), model="nmm3")


# --- 2: late or unformatted protocol errors ------------------------------------------------------------
@pytest.mark.parametrize("overrides, initial, message", [
    ({"eta_bar": 1e308}, "fixed_point", "protocol: circuit.overrides.eta_bar: no fixed point found"),
    ({"J": 1e300}, "fixed_point", "protocol: circuit.overrides.J: no fixed point found for circuit 'pyramidal': "
                                  "the coupling J['P', 'P']"),
    ({"J": -1e300}, "fixed_point", "protocol: circuit.overrides.J: no fixed point found for circuit 'pyramidal': "
                                   "the coupling J['P', 'P']"),
    ({"delta": 1e300}, "fixed_point", "protocol: circuit.overrides: no fixed point found"),
    ({"eta_bar": -1e308}, "synapses_at_rest", "protocol: circuit.overrides.eta_bar: the initial state of nmm2"),
])
def test_circuit_without_initial_state_is_blamed_on_the_circuit(overrides, initial, message):
    d = json.loads(json.dumps(TINY))
    d["circuit"]["overrides"] = overrides
    d["run"]["initial"] = initial
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # no numpy RuntimeWarning escapes either
        with pytest.raises(ProtocolError) as info:
            load_dict(d)
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text and "run.initial:" not in text


def test_cli_huge_coupling_one_prefixed_line(tmp_path, monkeypatch, capsys, no_computation):
    d = json.loads(json.dumps(TINY))
    d["circuit"]["overrides"] = {"J": -1e300}
    write_toml(tmp_path / "p.toml", d)
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(["run", "p.toml", "--out", "out"], capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith("stimsim: error: p.toml: circuit.overrides.J: no fixed point found")


STUDY_BASE = {"name": "s", "circuit": {"preset": "pyramidal"}, "run": {"duration_ms": 1000.0, "dt_ms": 0.05}}


@pytest.mark.parametrize("study, message", [
    ({"kind": "frequency_response", "freqs_hz": [47.0]},
     "study.freqs_hz: a frequency response needs at least 2 frequencies"),
    ({"kind": "entrainment", "freqs_hz": [10.0, 129.0], "measure_ms": 500.0},
     "study.measure_ms: 500 ms holds 5 cycles of the lowest drive frequency 10 Hz, fewer than the 20"),
    ({"kind": "frequency_response", "freqs_hz": [5.0, 47.0], "parameters": {"J": [1.0, -1e300]}},
     "study.parameters: with {J = -1e+300}: no fixed point found"),
    ({"kind": "frequency_response", "freqs_hz": [5.0, 47.0], "parameters": {"tau_m": [-1.0, 20.0]}},
     "study.parameters: population 'P': tau_m must be > 0"),
    ({"kind": "entrainment", "freqs_hz": [100.0, 129.0], "parameters": {"tau_s": [0.1, 2.0]}},
     "study.parameters: with {tau_s = 0.1}: dt_ms=0.05 is too coarse"),
])
def test_study_problems_found_before_running(study, message):
    d = dict(STUDY_BASE, study=study)
    with pytest.raises(ProtocolError) as info:
        load_dict(d)
    assert str(info.value).startswith("protocol: ") and message in str(info.value)


def test_study_with_two_frequencies_is_valid():
    p = load_dict(dict(STUDY_BASE, study={"kind": "frequency_response", "freqs_hz": [20.0, 47.0]}))
    assert p.study.freqs_hz == (20.0, 47.0)


# --- 3: SIGTERM and killed runs leave no staging folder ----------------------------------------------------
def _start_slow_and_wait_for_files(tmp_path):
    """Start the slow run; return it once its staging folder holds a file (the write phase)."""
    (tmp_path / "slow.toml").write_text(SLOW_TOML)
    proc = cli_process(["run", "slow.toml", "--out", "out", "--quiet"], tmp_path)
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        stages = [p for p in tmp_path.iterdir() if ".partial-" in p.name]
        if stages and any(stages[0].iterdir()):
            return proc
        time.sleep(0.005)
    proc.kill()
    pytest.fail(f"the run ended before its write phase could be interrupted: {proc.communicate()}")


def test_sigterm_during_write_removes_staging_folder(tmp_path):
    proc = _start_slow_and_wait_for_files(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stimsim: terminated (SIGTERM); no partial results were kept" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.toml"]


def test_staging_folder_of_a_killed_run_is_removed_by_the_next_run(tmp_path):
    proc = _start_slow_and_wait_for_files(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    stale = [p for p in tmp_path.iterdir() if ".partial-" in p.name]
    assert len(stale) == 1 and f"-{proc.pid}-" in stale[0].name     # the owner's pid is in the name
    assert (tmp_path / ".out.stimsim-lock").exists()                    # no process holds it any more
    run_protocol(load_dict(TINY), out_dir=tmp_path / "next")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["next", "slow.toml"]


def test_staging_folders_of_live_processes_are_kept(tmp_path):
    from stimsim.io import _host_id, remove_stale_stages

    live = tmp_path / f".x.partial-{_host_id()}-{os.getppid()}-abcd"
    other_host = tmp_path / ".y.partial-00000000-999999999-abcd"
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead = tmp_path / f".z.partial-{_host_id()}-{ended.pid}-abcd"
    for p in (live, other_host, dead):
        p.mkdir()
        (p / "half.csv").write_text("1,")
    removed = remove_stale_stages(tmp_path)
    assert removed == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other_host.name])


# --- 4: smaller ---------------------------------------------------------------------------------------------
def test_result_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run_protocol(load_dict(TINY), out_dir=tmp_path / "a")
        os.umask(0o027)
        run_protocol(load_dict(TINY), out_dir=tmp_path / "b")
    finally:
        os.umask(old)
    for folder, dmode, fmode in ((tmp_path / "a", 0o755, 0o644), (tmp_path / "b", 0o750, 0o640)):
        assert folder.stat().st_mode & 0o777 == dmode
        for f in folder.iterdir():
            assert f.stat().st_mode & 0o777 == fmode, f


@pytest.mark.parametrize("overrides, key", [
    ({"J": {}}, "circuit.overrides.J: is an empty table"),
    ({"eta_bar": {}}, "circuit.overrides.eta_bar: is an empty table"),
])
def test_empty_override_tables_are_refused(overrides, key):
    d = json.loads(json.dumps(TINY))
    d["circuit"]["overrides"] = overrides
    with pytest.raises(ProtocolError, match=key):
        load_dict(d)
    d["circuit"] = {"preset": "ping", "overrides": {"J": {"E": {}}}}
    with pytest.raises(ProtocolError, match=r"circuit.overrides.J.E: is an empty table"):
        load_dict(d)


def test_name_from_file_name_with_spaces_and_bom(tmp_path):
    d = {k: v for k, v in TINY.items() if k != "name"}
    path = tmp_path / "my protocol (v2).toml"
    write_toml(path, d)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())            # a UTF-8 byte-order mark
    p = load_protocol(path)
    assert p.name == "my-protocol-v2-"
    assert load_dict(p.resolved).name == p.name
    bad = json.loads(json.dumps(TINY))
    bad["name"] = "my protocol"
    with pytest.raises(ProtocolError, match=r'name: .*e.g. name = "my-protocol"'):
        load_dict(bad)
    meta = tmp_path / "meta.json"
    meta.write_bytes(b"\xef\xbb\xbf" + json.dumps(TINY).encode())
    assert load_protocol(meta).name == "tiny"


@pytest.mark.parametrize("kwargs, message", [
    ({"duration_ms": "100"}, "duration_ms must be a real number, got '100'"),
    ({"dt_ms": True}, "dt_ms must be a real number, got True"),
    ({"record_every": 2.0}, "record_every must be a positive integer"),
])
def test_api_numbers_given_as_strings_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        stimsim.simulate(stimsim.preset("pyramidal"), **kwargs)


def test_api_numpy_numbers_are_accepted():
    res = stimsim.simulate(stimsim.preset("pyramidal"), duration_ms=np.float32(2.0), dt_ms=np.float64(0.05),
                           record_every=np.int64(10))
    assert res.rate_hz.shape == (5, 1)


def test_memory_estimate_refuses_runs_that_do_not_fit(monkeypatch):
    import stimsim.protocol.checks as schema

    d = json.loads(json.dumps(TINY))
    d["run"].update(duration_ms=2000.0, dt_ms=0.01, record_every=1)
    p = load_dict(d)
    est = schema.estimate_memory(p)
    rows = (200_000 + 1) * 2                              # records x models (1 population)
    assert est["table"] > rows * 9 * 8                    # at least one 8-byte cell per column and row
    assert est["total"] == pytest.approx(est["drive"] + est["states"] + est["table"])
    monkeypatch.setattr(schema, "MAX_MEMORY_BYTES", est["total"] / 2)
    with pytest.raises(ProtocolError) as info:
        load_dict(d)
    text = str(info.value)
    assert text.startswith("protocol: run.record_every: the run would need about ")
    assert "GiB of memory" in text and "raise run.record_every (now 1)" in text and "run.duration_ms" in text
    d["run"]["record_every"] = 100                       # fewer records fit
    load_dict(d)


def test_default_memory_limit_is_half_the_physical_memory():
    import stimsim.protocol.checks as schema

    phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert schema.memory_limit_bytes() == pytest.approx(0.5 * phys)
