"""No point lost (issue 18): one row per design point and model, aliases refused, every part verified
on --resume, bad flags and folders refused before anything runs and without debris.

References: the design itself (``Design.points()``: the row of each point_id) and independent
fixed-point searches of the same circuits (``stimsim.dynamics.find_fixed_points``).
"""
import json
import re
import shutil
import socket
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stimsim
from stimsim.cli import main
from stimsim.protocol import ProtocolError
from stimsim.protocol.schema import load_dict
from stimsim.sweep import STORE_VERSION, run_sweep

LIST = """
name = "l"
[circuit]
preset = "pyramidal"
[run]
models = ["nmm2", "nmm1"]
duration_ms = 100.0
dt_ms = 0.05
[stimulation]
unit = "field"
[sweep]
kind = "fixed_points"
design = "list"
[sweep.parameters]
{parameters}
"""


def write(tmp_path, parameters, name="l.toml", text=LIST):
    p = tmp_path / name
    p.write_text(text.format(parameters=parameters))
    return p


def read(out):
    t = pd.read_csv(Path(out) / "results.csv", dtype={"task_key": str, "reason": str}, keep_default_na=False,
                    na_values=[""])
    t["reason"] = t["reason"].fillna("")
    return t


def protocol(parameters, design="list", kind="fixed_points", models=("nmm2", "nmm1"), **extra):
    return load_dict({"name": "p", "circuit": {"preset": "pyramidal"},
                      "run": {"models": list(models), "duration_ms": 100.0, "dt_ms": 0.05},
                      "stimulation": {"unit": "field"},
                      "sweep": {"kind": kind, "design": design, "parameters": parameters, **extra}})


def reference_rate(J, eta_bar=None):
    """The lowest fixed point's rate (Hz) of the pyramidal circuit, found independently of the sweep."""
    c = stimsim.preset("pyramidal").replace(J={("P", "P"): J})
    c = c if eta_bar is None else c.replace(eta_bar=eta_bar)
    return float(stimsim.dynamics.find_fixed_points(c)[0][0] * 1000.0)


# --- 1. every design point is a row ----------------------------------------------------------------
def test_a_list_design_keeps_its_repeated_rows(tmp_path, capsys, monkeypatch):
    import stimsim.sweep._tasks as tasks

    computed = []
    real = tasks._evaluate_points

    def counting(spec, point_ids, values, numba_threads=None):
        computed.extend(int(i) for i in point_ids)
        return real(spec, point_ids, values, numba_threads=numba_threads)

    monkeypatch.setattr(tasks, "_evaluate_points", counting)
    p = write(tmp_path, "J = [1.0, 8.0, 1.0]")
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert computed == [0, 1]                     # point 2 repeats point 0 in the same chunk: computed once
    assert capsys.readouterr().out.startswith("3 points x 2 models: 6 ok")
    t = read(tmp_path / "o")
    assert len(t) == 6 and t.point_id.tolist() == [0, 0, 1, 1, 2, 2]
    assert t.J.tolist() == [1.0, 1.0, 8.0, 8.0, 1.0, 1.0]
    a = t[t.point_id == 0].drop(columns="point_id").reset_index(drop=True)
    b = t[t.point_id == 2].drop(columns="point_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)                 # identical content, its own point_id
    for pid, J in ((0, 1.0), (1, 8.0), (2, 1.0)):
        assert t[t.point_id == pid].fixed_point_rate_hz.tolist() == pytest.approx([reference_rate(J)] * 2, rel=1e-9)
    meta = json.loads((tmp_path / "o" / "metadata.json").read_text())
    assert meta["rows"] == 6 and meta["points"] == 3


def test_repeats_in_a_lockin_list_share_a_chunk_and_give_identical_rows(tmp_path):
    task, design, _ = protocol({"J": [2.0, 8.0, 2.0, 2.0], "frequency_hz": [10.0, 10.0, 10.0, 20.0]},
                               kind="lockin", settle_ms=100.0, measure_ms=200.0).sweep
    t = run_sweep(task, design, tmp_path / "s", progress=False, chunk_size=3).table
    assert len(t) == 8 and sorted(t.point_id.unique()) == [0, 1, 2, 3] and (t.status == "ok").all()
    cols = ["model", "J", "frequency_hz", "task_key", "response", "phase_rad", "mean"]
    # point 2 repeats point 0 (same chunk: computed once); point 3 differs in frequency
    pd.testing.assert_frame_equal(t[t.point_id == 0][cols].reset_index(drop=True),
                                  t[t.point_id == 2][cols].reset_index(drop=True))
    assert not np.allclose(t[t.point_id == 3].response, t[t.point_id == 0].response)


@pytest.mark.parametrize("parameters, both", [
    ('J = [1.0, 8.0]\n"J[P,P]" = [1.0, 2.0]', ('"J[P,P]"', "J")),
    ('eta_bar = [0.0, 1.0]\n"eta_bar[P]" = [1.0, 2.0]', ("eta_bar[P]", "eta_bar")),
    ('"eta_bar[ P ]" = [0.0, 1.0]\n"eta_bar[P]" = [1.0, 2.0]', ("eta_bar[P]", '"eta_bar[ P ]"')),
    ('tau_s = [5.0, 6.0]\n"tau_s/tau_m" = [0.5, 0.6]', ('"tau_s/tau_m"', "tau_s")),
])
def test_one_parameter_under_two_names_is_refused_naming_both(tmp_path, capsys, parameters, both):
    p = write(tmp_path, parameters)
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("stimsim: error:"), err
    assert f"sweep.parameters.{both[0]}: sets the same circuit entry as {both[1]} (" in err, err
    assert not (tmp_path / "o").exists()


def test_two_different_entries_of_one_kind_are_not_aliases():
    data = {"name": "p", "circuit": {"preset": "ping"}, "run": {"models": ["nmm2"], "duration_ms": 10.0, "dt_ms": 0.01},
            "stimulation": {"unit": "current"},
            "sweep": {"kind": "fixed_points", "parameters": {"J[E,I]": [-10.0, -5.0], "J[I,E]": [5.0, 10.0],
                                                             "eta_bar[E]": [1.0], "eta_bar[I]": [0.0]}}}
    _, design, _ = load_dict(data).sweep
    assert design.n_points == 4
    data["sweep"]["parameters"]["eta_bar"] = [0.0]
    with pytest.raises(ProtocolError, match=r"sweep\.parameters\.eta_bar: sets the same circuit entry as "
                                            r"eta_bar\[E\] \(eta_bar\[E\]\)"):
        load_dict(data)
    data["sweep"]["parameters"].pop("eta_bar")
    data["sweep"].update(kind="bifurcation", bifurcation_parameter="eta_bar", bifurcation_range=[0.0, 1.0])
    with pytest.raises(ProtocolError, match=r"sweep\.bifurcation_parameter: 'eta_bar' sets the same circuit entry"):
        load_dict(data)


VALUES = st.sampled_from([0.0, 4.0, 8.0])
ETAS = st.sampled_from([-5.0, -2.0])


@pytest.mark.parametrize("alias", [None, "J[P,P]", "eta_bar[P]"])
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["list", "grid"]), js=st.lists(VALUES, min_size=1, max_size=5),
       etas=st.lists(ETAS, min_size=1, max_size=3), chunk=st.integers(1, 5))
def test_property_every_design_point_is_a_row_with_its_own_values(alias, kind, js, etas, chunk):
    if kind == "list":
        etas = (etas * len(js))[:len(js)]
    params = {"J": js, "eta_bar": etas}
    if kind == "grid" and (len(set(js)) < len(js) or len(set(etas)) < len(etas)):
        with pytest.raises(ProtocolError, match=r"sweep\.parameters\.(J|eta_bar): has repeated values"):
            protocol(params, design=kind)          # a grid axis lists each value once (repeats: a list design)
        return
    if alias:
        params[alias] = list(js if alias.startswith("J") else etas)
        key = f'"{alias}"' if "," in alias else alias
        with pytest.raises(ProtocolError, match=re.escape(f"sweep.parameters.{key}: sets the same circuit entry as ")):
            protocol(params, design=kind)
        return
    task, design, _ = protocol(params, design=kind).sweep
    points = design.points()
    n = len(js) * len(etas) if kind == "grid" else len(js)
    assert design.n_points == n == len(points)
    with tempfile.TemporaryDirectory() as d:
        t = run_sweep(task, design, Path(d) / "s", progress=False, chunk_size=chunk).table
    assert len(t) == 2 * n
    assert t.groupby("point_id").size().to_dict() == {i: 2 for i in range(n)}
    assert t.groupby("point_id").model.apply(sorted).tolist() == [["nmm1", "nmm2"]] * n
    assert (t.status == "ok").all()
    for row in t.itertuples():
        assert (row.J, row.eta_bar) == tuple(points[row.point_id])
        assert row.fixed_point_rate_hz == pytest.approx(reference_rate(row.J, row.eta_bar), rel=1e-9)


# --- 2. --resume verifies every part ----------------------------------------------------------------
def _truncate(f):
    f.write_bytes(f.read_bytes()[:-3])


def _edit_999(f):
    f.write_text(re.sub(r",ok,,(\d+),", ",ok,,999,", f.read_text(), count=1))


def _edit_nan(f):
    lines = f.read_text().splitlines()
    cells = lines[1].split(",")
    cells[-2] = "nan"
    lines[1] = ",".join(cells)
    f.write_text("\n".join(lines) + "\n")


def _drop_row(f):
    lines = f.read_text().splitlines()
    f.write_text("\n".join(lines[:-1]) + "\n")


CORRUPTIONS = {
    "truncated": (_truncate, "sha256 differs from manifest.csv"),
    "edited 999": (_edit_999, "sha256 differs from manifest.csv"),
    "edited NaN": (_edit_nan, "sha256 differs from manifest.csv"),
    "a row missing": (_drop_row, "sha256 differs from manifest.csv"),
    "garbage": (lambda f: f.write_bytes(b"\x00\xff\xfe\x80 not a csv"), "sha256 differs from manifest.csv"),
    "empty": (lambda f: f.write_bytes(b""), "sha256 differs from manifest.csv"),
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 6-point sweep in 3 parts, and its table."""
    d = tmp_path_factory.mktemp("finished")
    p = write(d, "J = [1.0, 8.0, 1.0, 3.0, 4.0, 5.0]\neta_bar = [-5.0, -5.0, -5.0, -2.0, -2.0, -5.0]")
    assert main(["sweep", str(p), "--out", str(d / "s"), "--quiet", "--chunk-size", "2"]) == 0
    return p, d / "s", read(d / "s")


def _copy(finished, tmp_path):
    p, src, table = finished
    out = tmp_path / "s"
    shutil.copytree(src, out)
    (out / "results.csv").unlink()
    return p, out, table


@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_resume_recomputes_a_part_that_fails_verification(finished, tmp_path, capsys, how):
    p, out, table = _copy(finished, tmp_path)
    part = max((out / "parts").glob("part-*.csv"))
    change, why = CORRUPTIONS[how]
    change(part)
    capsys.readouterr()
    assert main(["sweep", str(p), "--out", str(out), "--quiet", "--resume", "--chunk-size", "2"]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line]
    assert len(warnings) == 1 and warnings[0].startswith(f"stimsim: warning: {part}: "), captured.err
    assert why in warnings[0] and "computed again" in warnings[0]
    assert "computed 2 this run" in captured.out
    pd.testing.assert_frame_equal(read(out), table)
    assert (out / "rejected" / part.name).is_file() and part.is_file()     # recomputed in place, the bad one kept aside
    meta = json.loads((out / "metadata.json").read_text())
    assert [r["file"] for r in meta["rejected_parts"]] == [f"parts/{part.name}"]


@pytest.mark.parametrize("content", [b"\x00\xff garbage", b"", None])
def test_a_stray_part_file_is_rejected_not_a_traceback(finished, tmp_path, capsys, content):
    p, out, table = _copy(finished, tmp_path)
    stray = out / "parts" / "part-000000000-000000001-aaaaaaaaaaaa.csv"
    if content is None:         # a copy of a good part under another name: not in the manifest
        shutil.copy(min((out / "parts").glob("part-*.csv")), stray)
    else:
        stray.write_bytes(content)
    capsys.readouterr()
    assert main(["sweep", str(p), "--out", str(out), "--quiet", "--resume"]) == 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{stray}: is not listed in manifest.csv" in err, err
    assert "Traceback" not in err
    pd.testing.assert_frame_equal(read(out), table)


def test_a_part_listed_in_a_garbled_manifest_is_recomputed(finished, tmp_path, capsys):
    p, out, table = _copy(finished, tmp_path)
    (out / "manifest.csv").write_bytes(b"\xff\xfe\x00garbage\n")
    capsys.readouterr()
    assert main(["sweep", str(p), "--out", str(out), "--quiet", "--resume"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("is not listed in manifest.csv") == 3 and "computed 6 this run" in captured.out
    pd.testing.assert_frame_equal(read(out), table)


def test_a_store_of_the_older_format_is_refused_in_one_line(finished, tmp_path, capsys):
    p, out, _ = _copy(finished, tmp_path)
    spec = json.loads((out / "sweep.json").read_text())
    assert spec.pop("store_version") == STORE_VERSION == 2
    (out / "sweep.json").write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    before = sorted(x.name for x in (out / "parts").iterdir())
    assert main(["sweep", str(p), "--out", str(out), "--quiet", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "holds a sweep in store format 1, written by an older stimsim" in err, err
    assert sorted(x.name for x in (out / "parts").iterdir()) == before and (out / "sweep.json").is_file()


# --- 3, 9. flags refused before any model runs ----------------------------------------------------------
def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("flags, match", [
    (["--scheduler", "not-an-address"], r"--scheduler 'not-an-address' is not a scheduler address HOST:PORT"),
    (["--scheduler", "tcp://127.0.0.1:99999"], r"is not a scheduler address HOST:PORT \(PORT 1-65535\)"),
    (["--scheduler", "gopher://h:1"], r"unknown protocol 'gopher'"),
    (["--chunk-size", "0"], r"--chunk-size must be an integer >= 1 \(points per chunk\), got 0"),
    (["--chunk-size", "-1"], r"--chunk-size must be an integer >= 1"),
    (["--executor", "serial", "--workers", "2"], r"--executor serial runs in this process; --workers applies only"),
    (["--executor", "local", "--scheduler", "tcp://h:1"], r"--executor local runs in this process; --scheduler"),
    (["--workers", "0"], r"--workers must be an integer >= 1, got 0"),
    (["--workers", "2", "--scheduler", "tcp://h:1"], r"either --scheduler .* or --workers"),
])
def test_bad_flags_are_one_line_errors_and_leave_nothing(tmp_path, capsys, monkeypatch, flags, match):
    import stimsim.sweep._tasks as tasks

    def must_not_run(*a, **k):
        raise AssertionError("a model ran")

    monkeypatch.setattr(tasks, "_evaluate_points", must_not_run)
    p = write(tmp_path, "J = [1.0, 8.0]")
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--quiet", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("stimsim: error: ") and re.search(match, err), err
    assert not (tmp_path / "o").exists()


def test_a_closed_scheduler_leaves_no_debris_and_the_same_command_runs_again(tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    p = write(tmp_path, "J = [1.0, 8.0]")
    out = tmp_path / "deep" / "o"
    addr = f"tcp://127.0.0.1:{_closed_port()}"
    assert main(["sweep", str(p), "--out", str(out), "--quiet", "--scheduler", addr]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"--scheduler {addr}: no Dask scheduler answered within 5 s" in err, err
    assert not (tmp_path / "deep").exists()
    assert main(["sweep", str(p), "--out", str(out), "--quiet"]) == 0
    assert len(read(out)) == 4


def test_negative_amplitude_axis_is_refused():
    with pytest.raises(ProtocolError, match=r"sweep\.parameters\.amplitude: amplitudes must be >= 0 drive units"):
        protocol({"amplitude": [-1.0, 1.0]}, design="grid", kind="linear", frequency_hz=10.0)
    with pytest.raises(ProtocolError, match=r"sweep\.parameters\.amplitude: amplitudes must be >= 0"):
        protocol({"amplitude": [-1.0, 1.0]}, design="random", kind="linear", frequency_hz=10.0, n=3)
    _, design, _ = protocol({"amplitude": [0.0, 1.0]}, design="grid", kind="linear", frequency_hz=10.0).sweep
    assert design.n_points == 2


# --- 10. the output folder: checked first, no debris ------------------------------------------------
def test_an_out_below_a_file_is_refused_before_anything_runs(tmp_path, capsys):
    p = write(tmp_path, "J = [1.0, 8.0]")
    (tmp_path / "f").write_text("x")
    assert main(["sweep", str(p), "--out", str(tmp_path / "f" / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"cannot be created: {tmp_path / 'f'} is not a folder" in err, err


def _unwritable(monkeypatch, folder):
    """Make the store's write probe fail in ``folder`` (permissions cannot be tested as root)."""
    import stimsim.sweep._store as store

    real = store._new_file

    def probe(directory, prefix, suffix):
        if Path(directory) == folder:
            raise PermissionError(13, "Permission denied", str(directory))
        return real(directory, prefix, suffix)

    monkeypatch.setattr(store, "_new_file", probe)


def test_an_unwritable_out_is_named_in_one_line_before_anything_runs(tmp_path, capsys, monkeypatch):
    p = write(tmp_path, "J = [1.0, 8.0]")
    (tmp_path / "ro").mkdir()
    _unwritable(monkeypatch, tmp_path / "ro")
    assert main(["sweep", str(p), "--out", str(tmp_path / "ro" / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"stimsim: error: sweep folder {tmp_path / 'ro' / 'o'} is not writable: cannot create a file in "
                   f"{tmp_path / 'ro'} (Permission denied); choose another --out"), err
    assert list((tmp_path / "ro").iterdir()) == []


def test_unwritable_parts_are_found_before_a_chunk_is_computed(finished, tmp_path, capsys, monkeypatch):
    import stimsim.sweep._tasks as tasks

    p, out, _ = _copy(finished, tmp_path)
    for f in sorted((out / "parts").glob("part-*.csv"))[1:]:
        f.unlink()
    before = {f.name: f.read_bytes() for f in out.rglob("*") if f.is_file()}
    _unwritable(monkeypatch, out / "parts")
    monkeypatch.setattr(tasks, "_evaluate_points", lambda *a, **k: pytest.fail("a chunk was computed"))
    assert main(["sweep", str(p), "--out", str(out), "--quiet", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"cannot create a file in {out / 'parts'} (Permission denied)" in err, err
    assert {f.name: f.read_bytes() for f in out.rglob("*") if f.is_file()} == before


def test_a_failure_before_the_first_part_leaves_no_sweep_json(tmp_path, monkeypatch):
    import stimsim.sweep._run as run

    p = protocol({"J": [1.0, 8.0]})
    task, design, _ = p.sweep

    class Broken:
        def map(self, fn, chunks):
            raise OSError(28, "No space left on device")
            yield

        def close(self):
            pass

    monkeypatch.setattr(run, "make_executor", lambda *a, **k: Broken())
    with pytest.raises(OSError, match="No space left"):
        run_sweep(task, design, tmp_path / "a" / "s", progress=False)
    assert not (tmp_path / "a").exists()
    monkeypatch.undo()
    assert len(run_sweep(task, design, tmp_path / "a" / "s", progress=False).table) == 4


def test_a_chunk_that_lost_a_row_stops_the_sweep_instead_of_a_short_table(tmp_path, monkeypatch):
    import stimsim.sweep._tasks as tasks

    real = tasks._evaluate_points
    monkeypatch.setattr(tasks, "_evaluate_points", lambda *a, **k: real(*a, **k).iloc[1:])
    task, design, _ = protocol({"J": [1.0, 8.0]}).sweep
    with pytest.raises(RuntimeError, match="a chunk returned 3 rows for 2 points, expected 2 per point"):
        run_sweep(task, design, tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()


def test_a_taskspec_built_in_python_refuses_aliases_too():
    from stimsim.analysis import Drive
    from stimsim.continuation import parameter
    from stimsim.sweep import TaskSpec

    c = stimsim.preset("pyramidal")
    with pytest.raises(ValueError, match=r"sweep parameter 'J\[P,P\]' sets the same circuit entry as 'J'"):
        TaskSpec(kind="fixed_points", models=("nmm2",), circuit=c, names=("J", "J[P,P]"),
                 parameters=(parameter("J", c), parameter("J[P,P]", c)), drive=Drive(unit="field"))
    ok = TaskSpec(kind="fixed_points", models=("nmm2",), circuit=c, names=("J", "eta_bar"),
                  parameters=(parameter("J", c), parameter("eta_bar", c)), drive=Drive(unit="field"))
    assert ok.names == ("J", "eta_bar")
