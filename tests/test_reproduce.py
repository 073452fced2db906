"""``stimsim reproduce`` (docs/paper-reproduction.md): driver, parts c and d, their claims and the doc.

The numbers of parts c and d, and those stated in docs/paper-reproduction.md, are checked against
closed forms written here from docs/models.md and no stimsim code: the QIF transfer function Phi
(M3), the fixed point r* = Phi(eta_bar + I + tau_m J r*) solved with scipy's brentq, the
one-population transfer functions of NMM2 and NMM1 from linearising M2 and M4,

    H2(s) = (2 r / tau_m^2) / (D(s) - (2 r J / tau_m) / (1 + tau_s s)^2),   D(s) = (s + gamma)^2 + (2 pi r)^2
    H1(s) = Phi' / (1 - Phi' tau_m J / (1 + tau_s s)^2),                   gamma = Delta / (pi tau_m^2 r)

and their characteristic polynomials D(s) (1 + tau_s s)^2 - 2 r J / tau_m and
(1 + tau_s s)^2 - Phi' tau_m J. Preset parameters are those of the docs/models.md presets table.
"""
import importlib
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq, minimize_scalar

import stimsim.reproduce as rp
from stimsim.cli import main
from stimsim.errors import InputError

DOC = (Path(__file__).resolve().parents[1] / "docs" / "paper-reproduction.md").read_text(encoding="utf-8")

# docs/models.md, presets table
PYRAMIDAL = dict(tau_m=20.0, tau_s=10.0, delta=1.0, J=8.0, eta_bar=1.0, I=0.0)
INTERNEURONS = dict(tau_m=7.5, tau_s=2.0, delta=1.0, J=-20.0, eta_bar=0.0, I=30.0)
PRESETS = {"pyramidal": PYRAMIDAL, "interneurons": INTERNEURONS}
# docs/paper-reproduction.md, parts c and d
J_GRID = np.arange(0.0, 12.1, 2.0)
ETA_GRID = np.arange(-1.0, 5.1, 1.0)
FREQ_GRID = np.arange(0.5, 150.01, 0.5)
RATIO_GRID = np.logspace(-1, 2, 61)


# --- closed forms (docs/models.md M2-M4), no stimsim code -------------------------------------------
def phi(x, delta, tau_m):
    return math.sqrt(x + math.sqrt(x * x + delta * delta)) / (math.sqrt(2.0) * math.pi * tau_m)


def dphi(x, delta, tau_m):
    return phi(x, delta, tau_m) / (2.0 * math.sqrt(x * x + delta * delta))


def fixed_rate_khz(p):
    """The unique r* (kHz) of r = Phi(eta_bar + I + tau_m J r), bracketed on a log grid, brentq."""
    g = lambda r: r - phi(p["eta_bar"] + p["I"] + p["tau_m"] * p["J"] * r, p["delta"], p["tau_m"])
    rs = np.logspace(-7, 1, 3000)
    vals = np.array([g(r) for r in rs])
    idx = np.flatnonzero(np.diff(np.sign(vals)))
    assert len(idx) == 1, f"expected one fixed point for {p}, found {len(idx)}"
    return brentq(g, rs[idx[0]], rs[idx[0] + 1], xtol=1e-16, rtol=1e-15)


def point(p):
    r = fixed_rate_khz(p)
    x = p["eta_bar"] + p["I"] + p["tau_m"] * p["J"] * r
    return dict(r=r, gamma=p["delta"] / (math.pi * p["tau_m"] ** 2 * r), w0=2 * math.pi * r,
                slope=dphi(x, p["delta"], p["tau_m"]))


def H2(p, f_hz, q=None):
    q = q or point(p)
    s = 1j * 2 * np.pi * np.asarray(f_hz, dtype=float) / 1000.0            # rad/ms
    D = (s + q["gamma"]) ** 2 + q["w0"] ** 2
    return 1000.0 * (2 * q["r"] / p["tau_m"] ** 2) / (D - (2 * q["r"] * p["J"] / p["tau_m"]) / (1 + p["tau_s"] * s) ** 2)


def H1(p, f_hz, q=None):
    q = q or point(p)
    s = 1j * 2 * np.pi * np.asarray(f_hz, dtype=float) / 1000.0
    return 1000.0 * q["slope"] / (1 - q["slope"] * p["tau_m"] * p["J"] / (1 + p["tau_s"] * s) ** 2)


def static_gain(p, q=None):
    q = q or point(p)
    return 1000.0 * q["slope"] / (1 - q["slope"] * p["tau_m"] * p["J"])


def eig_nmm2(p, q=None):
    q = q or point(p)
    poly = np.polymul([1.0, 2 * q["gamma"], q["gamma"] ** 2 + q["w0"] ** 2], [p["tau_s"] ** 2, 2 * p["tau_s"], 1.0])
    poly[-1] -= 2 * q["r"] * p["J"] / p["tau_m"]
    return np.roots(poly)


def eig_nmm1(p, q=None):
    q = q or point(p)
    root = np.sqrt(complex(q["slope"] * p["tau_m"] * p["J"]))
    return np.array([(-1 + root) / p["tau_s"], (-1 - root) / p["tau_s"]])


def closed_peak(p, guess_hz, half_width=3.0):
    """(frequency Hz, gain) of the maximum of |H2| near ``guess_hz``."""
    q = point(p)
    res = minimize_scalar(lambda f: -abs(H2(p, f, q)), bounds=(max(0.0, guess_hz - half_width), guess_hz + half_width),
                          method="bounded", options=dict(xatol=1e-9))
    return res.x, -res.fun


def has_interior_peak(p, freqs=FREQ_GRID):
    g = np.abs(H2(p, freqs))
    return 0 < int(np.argmax(g)) < freqs.size - 1


def convergence_row(p):
    """Independent recomputation of one row of convergence.csv (part d's definitions)."""
    q = point(p)
    ev2, ev1 = eig_nmm2(p, q), eig_nmm1(p, q)
    best = min(((np.sum(np.abs(ev2[[i, j]] - ev1) / np.abs(ev1)), (i, j))
                for i, j in itertools.permutations(range(4), 2)), key=lambda t: t[0])
    syn = ev2[list(best[1])]
    ring = ev2[[k for k in range(4) if k not in best[1]]]
    dist = float(np.max(np.abs(syn - ev1) / np.abs(ev1)))
    stable = bool(np.all(ev2.real < 0))
    ring_decay = -1 / ring.real.max() if ring.real.max() < 0 else math.nan
    syn_decay = -1 / syn.real.max() if syn.real.max() < 0 else math.nan
    sep = ring_decay / syn_decay if stable else math.inf
    rate_hz = 1000 * q["r"]
    f = np.array([1000 / (2 * math.pi * p["tau_s"]), rate_hz, 300.0])
    h2, h1 = H2(p, f, q), H1(p, f, q)
    return dict(rate_hz=rate_hz, relaxation_ms=1 / q["gamma"], dist=dist, stable=stable, sep=sep,
                ring=ring[np.argmax(ring.real)], ring_decay=ring_decay, syn_decay=syn_decay,
                nmm1_decay=-1 / ev1.real.max(), distances=np.abs(h2 - h1) / np.abs(h1),
                ratio_rate=abs(h2[1]) / abs(h1[1]), ratio_fast=abs(h1[2]) / abs(h2[2]),
                holds=stable and dist <= 0.05 and sep <= 0.1, lead_ring=ring.real.max() > syn.real.max())


def sweep(name, ratios=RATIO_GRID):
    base = PRESETS[name]
    values = sorted(set(np.round(ratios * base["tau_m"], 12)) | {base["tau_s"]})
    return pd.DataFrame([dict(tau_s_ms=ts, **convergence_row({**base, "tau_s": ts})) for ts in values])


def crossover_ms(frame, column="holds"):
    frame = frame.sort_values("tau_s_ms")
    ok = frame[column].to_numpy(dtype=bool)
    assert ok[-1]
    k = len(ok) - 1
    while k > 0 and ok[k - 1]:
        k -= 1
    return float(frame["tau_s_ms"].iloc[k])


def slope(x, y):
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def in_doc(text):
    assert text in DOC, f"docs/paper-reproduction.md does not state {text!r}"


# --- runs (module scope: one quick and one full reproduction of parts c and d) -----------------------
@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return rp.reproduce(tmp_path_factory.mktemp("quick") / "paper", parts=["c", "d"], quick=True, progress=False)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return rp.reproduce(tmp_path_factory.mktemp("full") / "paper", parts=["c", "d"], progress=False)


def read(report, part, name):
    return pd.read_csv(report.out_dir / report.metadata["parts"][part]["folder"] / name)


# --- the driver -------------------------------------------------------------------------------------
@pytest.mark.parametrize("run", ["quick", "full"])
def test_every_file_written_with_column_units_and_claims_hold(run, request):
    report = request.getfixturevalue(run)
    meta = json.loads((report.out_dir / "metadata.json").read_text())
    assert meta["kind"] == "stimsim reproduce" and meta["quick"] is (run == "quick")
    assert meta["reproduce_with"].endswith("--parts c d" + (" --quick" if run == "quick" else ""))
    assert set(meta["wall_time_s"]) == {"total", "c", "d"} and set(meta["environment"]) >= {"stimsim", "numpy"}
    assert sorted(p.name for p in report.out_dir.iterdir()) == ["c_resonance", "claims.csv", "d_convergence",
                                                               "metadata.json"]
    expected = {"c": {"resonance_curves.csv", "resonance_peaks.csv", "lockin_check.csv", "resonance_curves.png",
                      "resonance_peaks.png", "claims.csv"},
                "d": {"convergence.csv", "eigenvalues.csv", "convergence.png", "claims.csv"}}
    for part, names in expected.items():
        entry = meta["parts"][part]
        folder = report.out_dir / entry["folder"]
        assert entry["status"] == "done" and set(entry["files"]) == names
        assert {p.name for p in folder.iterdir()} == names
        for name, desc in entry["files"].items():
            path = folder / name
            if name.endswith(".csv"):
                assert list(pd.read_csv(path).columns) == list(desc)        # every column has its unit
            else:
                assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and isinstance(desc, str)
        for name in names:                                                   # each file is named in the doc
            in_doc(f"`{name}`")
    claims = pd.read_csv(report.out_dir / "claims.csv")
    parts = pd.concat([read(report, p, "claims.csv") for p in ("c", "d")], ignore_index=True)
    pd.testing.assert_frame_equal(claims, parts)
    assert list(claims["id"]) == [f"c{i}" for i in range(1, 9)] + [f"d{i}" for i in range(1, 6)]
    for cid in claims["id"]:
        in_doc(f"| {cid} |")
    assert claims["holds"].all(), claims.loc[~claims["holds"], ["id", "measured"]].to_string()
    assert meta["all_claims_hold"] and meta["claims_total"] == len(claims)


def test_unknown_part_is_one_line_exit_2_and_nothing_written(tmp_path, capsys):
    out = tmp_path / "paper"
    assert main(["reproduce", "--out", str(out), "--parts", "c", "resonanse", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown part 'resonanse'" in err[0] and "did you mean 'resonance'" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_registered_part_without_module_is_reported_not_yet_available(tmp_path):
    registry = (rp.Part("z", "future", "_no_such_part_module", "a part not written yet"),
                rp.Part("d", "convergence", "_convergence", "convergence"))
    selected, unavailable = rp.select_parts(None, registry)
    assert [p.key for p in selected] == ["d"] and [p.key for p in unavailable] == ["z"]
    with pytest.raises(InputError, match="part z \\(future\\) is not yet available"):
        rp.reproduce(tmp_path / "asked", parts=["z"], registry=registry, progress=False)
    assert list(tmp_path.iterdir()) == []
    report = rp.reproduce(tmp_path / "all", registry=registry, quick=True, progress=False)
    assert report.metadata["parts"]["z"]["status"] == "not yet available"
    assert report.metadata["parts"]["d"]["status"] == "done" and not (report.out_dir / "z_future").exists()
    # the real registry: every part whose module is missing is the one reported unavailable
    for p in rp.PARTS:
        assert p.available() == (Path(rp.__file__).parent / f"{p.module}.py").exists()


def _fake_run(tag, fail=False):
    def run(out_dir, progress, quick=False):
        files = {}
        rp.write_table(out_dir, "x.csv", pd.DataFrame({"a_hz": [1.0]}), {"a_hz": "Hz"}, files)
        if fail:
            raise KeyboardInterrupt
        return rp.PartResult(files=files, claims=[rp.Claim(f"{tag}1", "fake", "none", "1 Hz", 1.0, True, "Hz")],
                             parameters={"tag": tag})
    return run


@pytest.fixture
def fake_parts(monkeypatch):
    mods = {k: importlib.import_module(f"stimsim.reproduce.{m}") for k, m in (("c", "_resonance"), ("d", "_convergence"))}

    def use(**runs):
        for key, run in runs.items():
            monkeypatch.setattr(mods[key], "run", run)
    return use


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_interrupted_run_leaves_nothing_and_keeps_an_earlier_reproduction(tmp_path, fake_parts):
    out = tmp_path / "sub" / "paper"
    fake_parts(c=_fake_run("c"), d=_fake_run("d", fail=True))
    with pytest.raises(KeyboardInterrupt):
        rp.reproduce(out, parts=["c", "d"], progress=False)
    assert list(tmp_path.iterdir()) == []                    # no folder, no staging folder, no lock file
    fake_parts(d=_fake_run("d"))
    rp.reproduce(out, parts=["c", "d"], progress=False)
    before = _snapshot(out)
    fake_parts(c=_fake_run("c", fail=True))
    with pytest.raises(KeyboardInterrupt):
        rp.reproduce(out, parts=["c"], progress=False)
    assert _snapshot(out) == before
    assert [p.name for p in out.parent.iterdir()] == ["paper"]


def test_rerun_replaces_and_carries_other_parts_over_and_cli_reports(tmp_path, fake_parts, capsys):
    out = tmp_path / "paper"
    fake_parts(c=_fake_run("c"), d=_fake_run("d"))
    assert main(["reproduce", "--out", str(out), "--parts", "c", "d", "--quiet"]) == 0
    assert "2 of 2 claims hold" in capsys.readouterr().out
    c_before = _snapshot(out / "c_resonance")
    assert main(["reproduce", "--out", str(out), "--parts", "convergence", "--quiet"]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["parts"]["c"]["status"] == "carried over" and meta["parts"]["d"]["status"] == "done"
    assert meta["command"].startswith("stimsim ")
    assert _snapshot(out / "c_resonance") == c_before
    assert list(pd.read_csv(out / "claims.csv")["id"]) == ["c1", "d1"]
    assert [p.name for p in tmp_path.iterdir()] == ["paper"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    assert main(["reproduce", "--out", str(other), "--parts", "d", "--quiet"]) == 2
    assert "holds no earlier stimsim reproduction" in capsys.readouterr().err
    assert [p.name for p in other.iterdir()] == ["mine.txt"]


# --- part c against the closed forms ----------------------------------------------------------------
@pytest.mark.parametrize("run, f_tol, g_tol", [("quick", 0.05, 0.01), ("full", 0.02, 0.002)])
def test_c_peaks_and_rates_match_closed_form(run, f_tol, g_tol, request):
    report = request.getfixturevalue(run)
    peaks = read(report, "c", "resonance_peaks.csv")
    grid = report.metadata["parts"]["c"]["parameters"]["freqs_hz"]
    freqs = np.arange(grid["start"], grid["stop"] + grid["step"] / 2, grid["step"])
    for _, row in peaks.iterrows():
        p = {**PYRAMIDAL, "J": row["J"], "eta_bar": row["eta_bar"]}
        q = point(p)
        assert row["fixed_point_rate_hz"] == pytest.approx(1000 * q["r"], rel=1e-9)
        assert row["static_gain_hz_per_unit"] == pytest.approx(static_gain(p, q), rel=1e-9)
        H = H2(p, freqs, q) if row["model"] == "nmm2" else H1(p, freqs, q)
        assert row["max_gain_over_static"] == pytest.approx(np.abs(H).max() / static_gain(p, q), rel=1e-9)
        if row["model"] == "nmm2" and has_interior_peak(p, freqs):
            assert row["resonance"]
            f, g = closed_peak(p, row["peak_freq_hz"])
            assert abs(row["peak_freq_hz"] - f) < f_tol
            assert row["peak_gain_hz_per_unit"] == pytest.approx(g, rel=g_tol)
        else:
            assert not row["resonance"] and row["grid_edge"] == "low"


def test_c_curves_and_lockin_match_closed_form(full):
    curves = read(full, "c", "resonance_curves.csv")
    lin = curves[curves["method"] == "linear"]
    for (model, J, eta), sub in lin.groupby(["model", "J", "eta_bar"]):
        p = {**PYRAMIDAL, "J": J, "eta_bar": eta}
        H = (H2 if model == "nmm2" else H1)(p, sub["freq_hz"].to_numpy())
        np.testing.assert_allclose(sub["gain_hz_per_unit"], np.abs(H), rtol=1e-8)
        np.testing.assert_allclose(sub["phase_deg"], np.degrees(np.angle(H)), atol=1e-6)
    check = read(full, "c", "lockin_check.csv")
    # J sweep at eta_bar = 1 and eta_bar sweep at J = 8; 4 frequencies where NMM2 has a peak, else 3
    sets = {(J, 1.0) for J in J_GRID} | {(8.0, e) for e in ETA_GRID}
    n = sum(2 * (4 if has_interior_peak({**PYRAMIDAL, "J": J, "eta_bar": e}) else 3) for J, e in sets)
    assert len(check) == n == 104
    in_doc(f"{n} lock-in runs agree with the linear theory to better than 0.1 %")
    for _, row in check.iterrows():
        p = {**PYRAMIDAL, "J": row["J"], "eta_bar": row["eta_bar"]}
        H = (H2 if row["model"] == "nmm2" else H1)(p, row["freq_hz"])
        assert row["gain_linear_hz_per_unit"] == pytest.approx(abs(H), rel=1e-8)
        assert row["gain_lockin_hz_per_unit"] == pytest.approx(abs(H), rel=1e-3)


def test_doc_part_c_numbers_from_closed_forms():
    """Every number of docs/paper-reproduction.md part c, from the closed forms on the stated grid."""
    table = []
    for J, e in itertools.product(J_GRID, ETA_GRID):
        p = {**PYRAMIDAL, "J": J, "eta_bar": e}
        q = point(p)
        g2 = np.abs(H2(p, FREQ_GRID, q))
        g1 = np.abs(H1(p, FREQ_GRID, q))
        k = int(np.argmax(g2))
        peak = closed_peak(p, FREQ_GRID[k]) if 0 < k < FREQ_GRID.size - 1 else (math.nan, math.nan)
        table.append(dict(J=J, eta=e, r=1000 * q["r"], peak=0 < k < FREQ_GRID.size - 1, f=peak[0], g=peak[1],
                          nmm1_low=int(np.argmax(g1)) == 0 and g1.max() <= static_gain(p, q) * (1 + 1e-12)))
    t = pd.DataFrame(table)
    res, no = t[t["peak"]], t[~t["peak"]]
    assert len(res) == 42 and len(t) == 49
    in_doc("42 of the 49 sets have a peak inside the grid")
    assert set(zip(no["J"], no["eta"])) == {(J, e) for J in (0, 2, 4) for e in (-1, 0)} | {(6, -1)}
    in_doc("the seven without one (J ≤ 4 with eta_bar ≤ 0, and J = 6 with eta_bar = −1)")
    assert f"{no['r'].max():.1f}" == "21.8"
    in_doc("fire at r* ≤ 21.8 Hz")
    for per, along in (("eta", "J"), ("J", "eta")):
        for _, sub in res.groupby(per):
            sub = sub.sort_values(along)
            assert np.all(np.diff(sub["f"]) > 0) and np.all(np.diff(sub["g"]) > 0)
    cell = lambda J, e: t[(t["J"] == J) & (t["eta"] == e)].iloc[0]
    for (J, e), f_text, g_text in (((0, 1), "15.9 Hz (J = 0)", "8.7"), ((12, 1), "65.5 Hz (J = 12)", "26.8"),
                                   ((8, -1), "34.6 Hz (eta_bar = −1)", "12.0"), ((8, 5), "61.8 Hz (eta_bar = 5)", "26.5")):
        in_doc(f_text)
        assert abs(cell(J, e)["f"] - float(f_text.split()[0])) < 0.06
        assert abs(cell(J, e)["g"] - float(g_text)) < 0.06
    in_doc("from 8.7 to 26.8 Hz per QIF unit")
    in_doc("from 12.0 to 26.5 Hz per QIF unit")
    assert abs(res["f"].min() - 15.9) < 0.06 and abs(res["f"].max() - 77.8) < 0.06
    in_doc("every peak (15.9–77.8 Hz) lies within 1.6 Hz of r*")
    assert 1.5 < np.max(np.abs(res["f"] - res["r"])) <= 1.6
    assert t["nmm1_low"].all()
    in_doc("in 49 of 49 sets the NMM1 gain is largest at the lowest grid frequency")


# --- part d against the closed forms ----------------------------------------------------------------
def test_d_eigenvalues_are_the_roots_of_the_characteristic_equations(quick):
    eig = read(quick, "d", "eigenvalues.csv")
    for (name, ts), sub in eig.groupby(["preset", "tau_s_ms"]):
        p = {**PRESETS[name], "tau_s": ts}
        q = point(p)
        for model, expected in (("nmm2", eig_nmm2(p, q)), ("nmm1", eig_nmm1(p, q))):
            got = sub[sub["model"] == model]
            z = got["re_per_ms"].to_numpy() + 1j * got["im_per_ms"].to_numpy()
            assert len(z) == len(expected)
            scale = np.abs(expected).max()
            for e in expected:                                 # each root found once, to 1e-8 of the scale
                assert np.min(np.abs(z - e)) < 1e-8 * scale
        ring = sub[(sub["model"] == "nmm2") & (sub["mode"] == "ringing")]
        independent = convergence_row(p)["ring"]
        assert np.min(np.abs(ring["re_per_ms"] + 1j * ring["im_per_ms"] - independent)) < 1e-8 * abs(independent)


def test_d_convergence_table_matches_closed_form(quick):
    conv = read(quick, "d", "convergence.csv")
    for _, row in conv.iterrows():
        p = {**PRESETS[row["preset"]], "tau_s": row["tau_s_ms"]}
        ref = convergence_row(p)
        assert row["rate_hz"] == pytest.approx(ref["rate_hz"], rel=1e-9)
        assert row["relaxation_ms"] == pytest.approx(ref["relaxation_ms"], rel=1e-9)
        assert row["slow_eigenvalue_distance"] == pytest.approx(ref["dist"], rel=1e-6)
        assert row["nmm2_stability"].startswith("stable") == ref["stable"]
        assert row["limit_holds"] == ref["holds"] and (row["leading_mode"] == "ringing") == ref["lead_ring"]
        if ref["stable"]:
            assert row["separation"] == pytest.approx(ref["sep"], rel=1e-6)
            np.testing.assert_allclose(row[["distance_slow_input", "distance_at_rate", "distance_fast_input"]].to_numpy(float),
                                       ref["distances"], rtol=1e-7)
            assert row["gain_ratio_fast_input"] == pytest.approx(ref["ratio_fast"], rel=1e-8)
        else:
            assert math.isinf(row["separation"]) and math.isnan(row["distance_slow_input"])


def test_doc_part_d_numbers_from_closed_forms():
    """Every number of docs/paper-reproduction.md part d, from the characteristic equations on the stated grid."""
    pyr, inter = sweep("pyramidal"), sweep("interneurons")
    own_p = pyr[np.isclose(pyr["tau_s_ms"], 10.0)].iloc[0]
    own_i = inter[np.isclose(inter["tau_s_ms"], 2.0)].iloc[0]
    for text, value, digits in (("58.0 ms for `pyramidal` (r* = 46.2 Hz)", own_p["relaxation_ms"], 1),
                                ("(r* = 46.2 Hz)", own_p["rate_hz"], 1),
                                ("23.7 ms for `interneurons` (r* = 133.9 Hz)", own_i["relaxation_ms"], 1),
                                ("(r* = 133.9 Hz)", own_i["rate_hz"], 1)):
        in_doc(text)
        assert f"{value:.{digits}f}" in text
    last_p, last_i = pyr.iloc[-1], inter.iloc[-1]
    assert np.isclose(last_p["tau_s_ms"], 2000.0) and np.isclose(last_i["tau_s_ms"], 750.0)
    in_doc("relative distance 4.0 % at the pyramidal preset's tau_s = 10 ms and 6.7e-5 at tau_s / tau_m = 100")
    assert f"{100 * own_p['dist']:.1f}" == "4.0" and f"{last_p['dist']:.1e}" == "6.7e-05"
    in_doc("for interneurons 19 % at tau_s = 2 ms and 7.9e-5 at 100")
    assert f"{100 * own_i['dist']:.0f}" == "19" and f"{last_i['dist']:.1e}" == "7.9e-05"
    in_doc("log-log slope between −1.1 and −0.9 for tau_s / tau_m ≥ 10")
    for frame, tau_m in ((pyr, 20.0), (inter, 7.5)):
        tail = frame[frame["tau_s_ms"] >= 10 * tau_m * (1 - 1e-9)]
        assert -1.1 <= slope(tail["tau_s_ms"], tail["dist"]) <= -0.9
        assert -1.1 <= slope(tail["tau_s_ms"], [d[0] for d in tail["distances"]]) <= -0.9
    in_doc("2.0e-4 (pyramidal) and 1.4e-4 (interneurons) at tau_s / tau_m = 100")
    assert f"{last_p['distances'][0]:.1e}" == "2.0e-04" and f"{last_i['distances'][0]:.1e}" == "1.4e-04"
    in_doc("it holds from tau_s = 200 ms, 3.4 relaxation times (pyramidal), and from 237 ms, 10.0 relaxation times")
    cp, ci = crossover_ms(pyr), crossover_ms(inter)
    assert f"{cp:.0f}" == "200" and f"{cp / own_p['relaxation_ms']:.1f}" == "3.4"
    assert f"{ci:.0f}" == "237" and f"{ci / own_i['relaxation_ms']:.1f}" == "10.0"
    in_doc("within 5 % from tau_s ≈ 9 ms for the pyramidal")
    assert f"{crossover_ms(pyr.assign(ok=pyr['dist'] <= 0.05), 'ok'):.0f}" == "9"
    in_doc("NMM2's least damped mode is the ringing at 47.1 Hz (stable focus), NMM1 has a stable node, separation 1.65")
    assert own_p["stable"] and own_p["lead_ring"] and abs(own_p["ring"].imag) > 0
    assert f"{1000 * abs(own_p['ring'].imag) / (2 * math.pi):.1f}" == "47.1" and f"{own_p['sep']:.2f}" == "1.65"
    assert np.all(eig_nmm1({**PYRAMIDAL}).imag == 0) and not own_p["holds"]
    in_doc("NMM2's fixed point is an unstable focus rotating at 128.8 Hz")
    assert not own_i["stable"] and f"{1000 * abs(own_i['ring'].imag) / (2 * math.pi):.1f}" == "128.8"
    assert np.all(eig_nmm1(INTERNEURONS).real < 0) and np.all(eig_nmm1(INTERNEURONS).imag != 0)
    in_doc("NMM1's gain at 300 Hz is 40.0–41.1 times NMM2's (pyramidal) and 4.0–4.1 times (interneurons)")
    for frame, lo, hi in ((pyr, "40.0", "41.1"), (inter, "4.0", "4.1")):
        st = frame[frame["stable"]]
        assert f"{st['ratio_fast'].min():.1f}" == lo and f"{st['ratio_fast'].max():.1f}" == hi
        assert min(d[1] for d in st["distances"]) > 0.5 and min(d[2] for d in st["distances"]) > 0.5
    in_doc("NMM2's pyramidal gain is 6.8 times NMM1's at tau_s = 10 ms and 8.4 times for slow synapses")
    assert f"{own_p['ratio_rate']:.1f}" == "6.8" and f"{last_p['ratio_rate']:.1f}" == "8.4"
