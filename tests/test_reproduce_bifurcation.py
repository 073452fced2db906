"""Parts a and b of ``stimsim reproduce`` and ``stimsim bifurcation`` (docs/paper-reproduction.md, docs/continuation.md).

Independent references: eigenvalue scans of stimsim.linearize at fixed points (no continuation),
and the NMM1 Jacobian's closed-form eigenvalues (-1 +- sqrt(Phi' tau_m J)) / tau_s (models.md M4).
"""
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stimsim
import stimsim.reproduce as rp
from stimsim.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return rp.reproduce(tmp_path_factory.mktemp("ab") / "paper", parts=["a", "b"], quick=True, progress=False)


def test_parts_a_and_b_write_their_files_and_every_claim_holds(report):
    out = report.out_dir
    for f in ("equilibria.csv", "special_points.csv", "limit_cycles.csv", "timeseries.csv", "diagram.png",
              "timeseries.png", "claims.csv"):
        assert (out / "a_interneurons" / f).is_file(), f
    for f in ("hopf_curve.csv", "codim2_points.csv", "stability_scan.csv", "oscillation_region.png", "claims.csv"):
        assert (out / "b_oscillation_region" / f).is_file(), f
    claims = pd.read_csv(out / "claims.csv")
    assert set(claims.id) == {"a1", "a2", "a3", "a4", "b1", "b2", "b3"}
    assert claims.holds.all(), claims[~claims.holds].to_string()
    meta = json.loads((out / "metadata.json").read_text())
    assert set(meta["parts"]) >= {"a", "b"}


def _unstable_interval(ratio, grid):
    c = stimsim.preset("interneurons").replace(tau_s=ratio * 7.5)
    bad = []
    for I in grid:
        ci = c.replace(I=float(I))
        if not stimsim.linearize(ci, "nmm2", stimsim.find_fixed_points(ci)[0]).stable:
            bad.append(I)
    return bad


def test_oscillation_region_closes_near_tau_s_over_tau_m_0_8(report):
    """docs: the region closes at tau_s/tau_m = 0.80 (tau_s = 6.0 ms at tau_m = 7.5 ms), near I = 8 and 42 Hz."""
    curve = pd.read_csv(report.out_dir / "b_oscillation_region" / "hopf_curve.csv")
    hopf = curve[(curve.model == "nmm2") & curve.hopf]
    top = hopf.loc[hopf["tau_s/tau_m"].idxmax()]
    assert top["tau_s/tau_m"] == pytest.approx(0.80, abs=0.01)
    assert top["I"] == pytest.approx(8.0, abs=0.5) and top["frequency_hz"] == pytest.approx(42.0, abs=1.0)
    # independent: an eigenvalue scan finds an unstable fixed point just below, none just above
    grid = np.linspace(5.0, 12.0, 281)
    assert _unstable_interval(0.79, grid)
    assert not _unstable_interval(0.81, grid)


def test_part_a_numbers_in_the_doc(report):
    """docs: Hopf points at I = 5.32 and 76.70 (54.6 and 255.5 Hz); at I = 30 NMM2 oscillates at 129 Hz."""
    sp = pd.read_csv(report.out_dir / "a_interneurons" / "special_points.csv")
    h = sp[(sp.model == "nmm2") & (sp.kind == "H")].sort_values("parameter_value")
    np.testing.assert_allclose(h.parameter_value, [5.32, 76.70], atol=0.005)
    np.testing.assert_allclose(h.frequency_hz, [54.6, 255.5], atol=0.05)
    # the 129 Hz rhythm at I = 30: frequency of the leading eigenvalue pair is not it (the cycle is
    # far from the fixed point); the cycle branch and the simulation give it
    cyc = pd.read_csv(report.out_dir / "a_interneurons" / "limit_cycles.csv")
    f30 = np.interp(30.0, np.sort(cyc.parameter_value), cyc.frequency_hz.to_numpy()[np.argsort(cyc.parameter_value)])
    assert f30 == pytest.approx(129.0, abs=0.5)
    text = (DOCS / "paper-reproduction.md").read_text(encoding="utf-8")
    for number in ("5.32", "76.70", "54.6", "255.5", "129", "0.80", "6.0 ms"):
        assert number in text, number


def test_nmm1_eigenvalues_have_real_part_minus_one_over_tau_s():
    """models.md M4 with J < 0: (-1 +- i sqrt(|Phi' tau_m J|)) / tau_s."""
    c = stimsim.preset("interneurons")
    for I in (-20.0, 0.0, 30.0, 100.0):
        ci = c.replace(I=I)
        lin = stimsim.linearize(ci, "nmm1", stimsim.find_fixed_points(ci)[0])
        np.testing.assert_allclose(lin.eigenvalues.real, -1 / 2.0, rtol=1e-12)


def test_stimsim_bifurcation_command(tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["bifurcation", "pyramidal", "--parameter", "eta_bar", "--range", "-12", "2", "--set", "J=15",
                 "--out", str(out), "--quiet"]) == 0
    sp = pd.read_csv(out / "special_points.csv")
    assert sorted(sp.query("model == 'nmm2'").kind) == ["LP", "LP"]
    # NMM1 and NMM2 share their fixed points, hence their folds (models.md M4)
    a = np.sort(sp.query("model == 'nmm2'").parameter_value)
    b = np.sort(sp.query("model == 'nmm1'").parameter_value)
    np.testing.assert_allclose(a, b, rtol=1e-9)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["protocol"]["study"]["kind"] == "bifurcation"
    # a range in scientific notation with a negative start (argparse would read -1e1 as an option)
    sci = tmp_path / "sci"
    assert main(["bifurcation", "pyramidal", "--parameter", "eta_bar", "--range=-1.2e1,2", "--set", "J=15",
                 "--no-cycles", "--out", str(sci), "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(sci / "special_points.csv"), sp)
    # the metadata repeats the run
    again = tmp_path / "again"
    assert main(["run", str(out / "metadata.json"), "--out", str(again), "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(again / "special_points.csv"), sp)


@pytest.mark.parametrize("args, match", [
    (["--parameter", "nope", "--range", "0", "1"], "unknown continuation parameter"),
    (["--parameter", "tau_s", "--range", "-1", "5"], "must be > 0"),
    (["--parameter", "I", "--range", "2", "2"], "two different ends"),
    (["--parameter", "I", "--range", "5"], "needs two numbers"),
    (["--parameter", "I", "--range=1,x"], "needs two numbers"),
    (["--parameter", "I", "--range", "0", "1", "--second-parameter", "J"], "go together"),
    (["--parameter", "I", "--range", "0", "1", "--second-parameter", "J", "--second-range", "20", "30"],
     "must contain the circuit's J"),
])
def test_stimsim_bifurcation_bad_input_is_one_line_exit_2(tmp_path, capsys, args, match):
    out = tmp_path / "x"
    assert main(["bifurcation", "pyramidal", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(match, err[0]), err
    assert not out.exists()


@pytest.mark.parametrize("study, match", [
    ({"kind": "bifurcation", "parameter": "I"}, r"study\.range: is required"),
    ({"kind": "bifurcation", "parameter": "I", "range": [1.0]}, r"study\.range: must be a list of two numbers"),
    ({"kind": "bifurcation", "parameter": "I", "range": [0, 1], "freqs_hz": [1, 2]}, r"study\.freqs_hz: unknown key"),
    ({"kind": "bifurcation", "parameter": "I", "range": [0, 1], "second_parameter": "J"}, "go together"),
    ({"kind": "bifurcation", "parameter": "I", "range": [0, 1], "second_parameter": "I", "second_range": [-1, 1]},
     "must differ"),
    ({"kind": "bifurcation", "parameter": "I[X]", "range": [0, 1]}, r"study\.parameter: .*population"),
    ({"kind": "bifurcation", "parameter": "I", "range": [0, 1], "output_population": "Q"}, "not a population"),
])
def test_bifurcation_study_validation(study, match):
    from stimsim.protocol import ProtocolError
    from stimsim.protocol.schema import load_dict

    data = {"name": "b", "circuit": {"preset": "pyramidal"}, "run": {"models": ["nmm2"], "duration_ms": 10.0, "dt_ms": 0.01},
            "study": study}
    with pytest.raises(ProtocolError, match=match):
        load_dict(data)
