"""Part e of ``stimsim reproduce`` (docs/paper-reproduction.md, part e): the spiking network beside NMM2 and NMM1.

One quick run of the part (2 networks of N = 10 000 neurons per case, 1000 ms). Its numbers are
checked against references computed here without the part's code:

- the fixed-point rate r* = Phi(eta_bar + I + tau_m J r*) from the QIF transfer function Phi
  (models.md M3), solved with scipy's brentq;
- the one-population small-signal rate response of NMM2 and NMM1 to an input current (from
  linearising models.md M2 and M4, as in tests/test_reproduce.py), gamma = Delta / (pi tau_m^2 r*),

      H2(s) = (2 r* / tau_m^2) / ((s + gamma)^2 + (2 pi r*)^2 - (2 r* J / tau_m) / (1 + tau_s s)^2)
      H1(s) = Phi' / (1 - Phi' tau_m J / (1 + tau_s s)^2),

  whose maximum over f gives NMM2's resonance peak and whose modulus x amplitude the linear response;
- the period of NMM2's limit cycle at I = 30 from the upward mean crossings of a long NMM2
  simulation (no continuation, no spectrum), and stimsim.continuation's cycle branch;
- stimsim.find_fixed_points for r* (the brief's reference) beside the closed form.

Preset parameters are those of the docs/models.md presets table.
"""
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq, minimize_scalar

import stimsim
import stimsim.reproduce as rp

DOC = (Path(__file__).resolve().parents[1] / "docs" / "paper-reproduction.md").read_text(encoding="utf-8")
SECTION = DOC[DOC.index("## e. The spiking network beside both models"):DOC.index("## References")]

# docs/models.md, presets table
PYRAMIDAL = dict(tau_m=20.0, tau_s=10.0, delta=1.0, J=8.0, eta_bar=1.0, I=0.0)
INTERNEURONS = dict(tau_m=7.5, tau_s=2.0, delta=1.0, J=-20.0, eta_bar=0.0, I=30.0)
# docs/paper-reproduction.md, part e
AMPLITUDE = 0.2
FILES = {"timeseries.csv", "summary.csv", "network_seeds.csv", "timeseries.png", "claims.csv"}


# --- closed forms (docs/models.md M2-M4), no stimsim code -------------------------------------------
def phi(x, delta, tau_m):
    return math.sqrt(x + math.sqrt(x * x + delta * delta)) / (math.sqrt(2.0) * math.pi * tau_m)


def fixed_rate_khz(p):
    g = lambda r: r - phi(p["eta_bar"] + p["I"] + p["tau_m"] * p["J"] * r, p["delta"], p["tau_m"])
    return brentq(g, 1e-9, 10.0, xtol=1e-16, rtol=1e-15)


def H(p, f_hz, model):
    r = fixed_rate_khz(p)
    x = p["eta_bar"] + p["I"] + p["tau_m"] * p["J"] * r
    s = 1j * 2 * np.pi * np.asarray(f_hz, dtype=float) / 1000.0            # rad/ms
    syn = (1 + p["tau_s"] * s) ** 2
    if model == "nmm2":
        gamma = p["delta"] / (math.pi * p["tau_m"] ** 2 * r)
        D = (s + gamma) ** 2 + (2 * math.pi * r) ** 2
        return 1000.0 * (2 * r / p["tau_m"] ** 2) / (D - (2 * r * p["J"] / p["tau_m"]) / syn)
    slope = phi(x, p["delta"], p["tau_m"]) / (2.0 * math.sqrt(x * x + p["delta"] ** 2))
    return 1000.0 * slope / (1 - slope * p["tau_m"] * p["J"] / syn)


def nmm2_peak_hz(p):
    res = minimize_scalar(lambda f: -abs(H(p, f, "nmm2")), bounds=(20.0, 80.0), method="bounded",
                          options=dict(xatol=1e-9))
    return float(res.x)


def nmm2_cycle_frequency_by_crossings():
    """1 / mean period of NMM2's interneuron rhythm at I = 30: upward crossings of the mean rate."""
    res = stimsim.simulate(stimsim.preset("interneurons", I=30.0), "nmm2", duration_ms=3000.0, dt_ms=0.005,
                           record_every=1)
    late = res.time_ms >= 1000.0
    t, y = res.time_ms[late], res.rate_hz[late, 0]
    x = y - y.mean()
    i = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    tc = t[i] - x[i] * (t[i + 1] - t[i]) / (x[i + 1] - x[i])
    return 1000.0 / float(np.mean(np.diff(tc)))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return rp.reproduce(tmp_path_factory.mktemp("e") / "paper", parts=["e"], quick=True, progress=False)


@pytest.fixture(scope="module")
def summary(report):
    s = pd.read_csv(report.out_dir / "e_network" / "summary.csv")
    return {(row.case, row.model): row for row in s.itertuples(index=False)}


@pytest.fixture(scope="module")
def f_cycle():
    return nmm2_cycle_frequency_by_crossings()


def doc_number(pattern):
    """The number matched by the group of ``pattern`` in section e of the doc."""
    m = re.search(pattern, SECTION)
    assert m, f"docs/paper-reproduction.md part e does not match {pattern!r}"
    return float(m.group(1).replace("−", "-"))


# --- files and claims -------------------------------------------------------------------------------
def test_files_with_column_units_and_every_claim_holds(report):
    meta = json.loads((report.out_dir / "metadata.json").read_text())
    entry = meta["parts"]["e"]
    folder = report.out_dir / "e_network"
    assert entry["status"] == "done" and set(entry["files"]) == FILES
    assert {p.name for p in folder.iterdir()} == FILES
    for name, desc in entry["files"].items():
        if name.endswith(".csv"):
            assert list(pd.read_csv(folder / name).columns) == list(desc) and all(desc.values())
        else:
            assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and isinstance(desc, str)
        assert f"`{name}`" in SECTION, name
    claims = pd.read_csv(folder / "claims.csv")
    assert list(claims["id"]) == ["e1", "e2", "e3", "e4", "e5"]
    assert claims["holds"].all(), claims.loc[~claims["holds"], ["id", "measured"]].to_string()
    for cid in claims["id"]:
        assert f"| {cid} |" in SECTION
    assert all("Montbrió" in s or "Clusella" in s for s in claims["source"])
    # the network settings of tests/test_network.py: dt 0.01 ms, default V_peak 100, N = 10 000
    par = entry["parameters"]
    assert par["dt_ms"] == 0.01 and par["v_peak"] == 100.0 and par["neurons"] == 10_000 and par["quick"]
    ts = pd.read_csv(folder / "timeseries.csv")
    assert set(ts.model) == {"network", "nmm2", "nmm1"} and set(ts.preset) == {"interneurons", "pyramidal"}
    seeds = pd.read_csv(folder / "network_seeds.csv")
    assert len(seeds) == 3 * len(par["seeds"]) and set(seeds.seed) == set(par["seeds"])


# --- against the independent references ----------------------------------------------------------------
def test_references_of_the_part_are_the_closed_forms(summary, f_cycle):
    osc, drv = summary[("oscillation", "nmm2")], summary[("driven", "nmm2")]
    assert osc.fixed_point_rate_hz == pytest.approx(1000 * fixed_rate_khz(INTERNEURONS), rel=1e-9)
    assert summary[("stationary", "network")].fixed_point_rate_hz == pytest.approx(1000 * fixed_rate_khz(PYRAMIDAL),
                                                                                 rel=1e-9)
    # find_fixed_points agrees with the closed form (the pyramidal preset has one fixed point)
    assert stimsim.find_fixed_points(stimsim.preset("pyramidal"))[:, 0] * 1000 == pytest.approx(
        [1000 * fixed_rate_khz(PYRAMIDAL)], rel=1e-9)
    # the cycle branch (continuation) against the period of a simulated NMM2 cycle
    assert osc.cycle_frequency_hz == pytest.approx(f_cycle, rel=2e-4)
    # the drive sits at the maximum of |H2| (grid of 0.5 Hz, parabolic refinement)
    assert drv.drive_frequency_hz == pytest.approx(nmm2_peak_hz(PYRAMIDAL), abs=0.02)
    f = drv.drive_frequency_hz
    for model in ("nmm2", "nmm1"):
        assert summary[("driven", model)].linear_response_amplitude_hz == pytest.approx(
            AMPLITUDE * abs(H(PYRAMIDAL, f, model)), rel=1e-6)


def test_mean_fields_answer_as_their_closed_forms(summary, f_cycle):
    """The lock-in of the simulated mean fields is their linear response (the drive is weak), and the
    simulated NMM2 rhythm has the period of the cycle; NMM1 sits on r*."""
    f = summary[("driven", "nmm2")].drive_frequency_hz
    for model in ("nmm2", "nmm1"):
        row = summary[("driven", model)]
        h = H(PYRAMIDAL, f, model)
        assert row.response_amplitude_hz == pytest.approx(AMPLITUDE * abs(h), rel=0.01)
        assert row.response_phase_rad == pytest.approx(np.angle(h), abs=0.01)
    assert summary[("oscillation", "nmm2")].dominant_frequency_hz == pytest.approx(f_cycle, rel=0.002)
    n1 = summary[("oscillation", "nmm1")]
    r_star = 1000 * fixed_rate_khz(INTERNEURONS)
    assert n1.mean_rate_hz == pytest.approx(r_star, rel=1e-6) and n1.peak_to_peak_hz <= 1e-6 * r_star
    assert math.isnan(n1.dominant_frequency_hz)


def test_network_against_the_references(summary, f_cycle):
    """The claims, restated against the independent references: r* (closed form), the simulated NMM2
    cycle period, and the closed-form gains |H2| and |H1| at the drive."""
    net = summary[("oscillation", "network")]
    assert net.dominant_frequency_hz == pytest.approx(f_cycle, rel=0.03)
    assert net.rhythm_amplitude_hz > 0.5 * summary[("oscillation", "nmm2")].rhythm_amplitude_hz
    assert summary[("stationary", "network")].mean_rate_hz == pytest.approx(1000 * fixed_rate_khz(PYRAMIDAL),
                                                                         rel=0.03)
    d = summary[("driven", "network")]
    f = d.drive_frequency_hz
    assert d.response_amplitude_hz == pytest.approx(AMPLITUDE * abs(H(PYRAMIDAL, f, "nmm2")), rel=0.10)
    assert d.response_amplitude_hz > 3.0 * AMPLITUDE * abs(H(PYRAMIDAL, f, "nmm1"))
    assert d.response_phase_rad == pytest.approx(np.angle(H(PYRAMIDAL, f, "nmm2")), abs=0.15)
    assert abs(d.response_phase_rad - np.angle(H(PYRAMIDAL, f, "nmm1"))) > 1.0


# --- the numbers stated in the doc ------------------------------------------------------------------------
def test_doc_reference_numbers_from_closed_forms(f_cycle):
    """Reference numbers of the doc (part e) against the closed forms and the simulated NMM2 cycle."""
    assert doc_number(r"limit cycle at I = 30 \(continuation\) ([\d.]+) Hz") == pytest.approx(f_cycle, abs=0.006)
    assert doc_number(r"r\* = ([\d.]+) Hz \(interneurons\)") == pytest.approx(
        1000 * fixed_rate_khz(INTERNEURONS), abs=0.006)
    assert doc_number(r"r\* = ([\d.]+) Hz \(pyramidal\)") == pytest.approx(1000 * fixed_rate_khz(PYRAMIDAL), abs=0.006)
    peak = nmm2_peak_hz(PYRAMIDAL)
    assert doc_number(r"resonance peak at ([\d.]+) Hz") == pytest.approx(peak, abs=0.006)
    assert doc_number(r"NMM2 answers ([\d.]+) Hz") == pytest.approx(AMPLITUDE * abs(H(PYRAMIDAL, peak, "nmm2")),
                                                                     abs=0.01)
    assert doc_number(r"linear response ([\d.]+) Hz") == pytest.approx(AMPLITUDE * abs(H(PYRAMIDAL, peak, "nmm2")),
                                                                       abs=0.006)
    assert doc_number(r"NMM1's ([\d.]+) Hz") == pytest.approx(AMPLITUDE * abs(H(PYRAMIDAL, peak, "nmm1")), abs=0.006)
    assert doc_number(r"phase ([−\-\d.]+) rad \(NMM2\)") == pytest.approx(np.angle(H(PYRAMIDAL, peak, "nmm2")),
                                                                          abs=0.006)
    assert doc_number(r"phase ([−\-\d.]+) rad \(NMM1\)") == pytest.approx(np.angle(H(PYRAMIDAL, peak, "nmm1")),
                                                                          abs=0.006)


def test_doc_network_numbers_agree_with_this_run(report, summary, f_cycle):
    """The network's numbers in the doc (full resolution: 5 seeds, 2000 ms) against this quick run (2 seeds,
    1000 ms), within the finite-size spread over seeds that the doc reports; ratios are recomputed
    against the closed forms."""
    osc, st, d = summary[("oscillation", "network")], summary[("stationary", "network")], summary[("driven", "network")]
    assert doc_number(r"network ([\d.]+) Hz, [+−\-][\d.]+ % from NMM2's limit cycle") == pytest.approx(
        osc.dominant_frequency_hz, abs=0.05)
    assert doc_number(r"Hz, ([+−\-][\d.]+) % from NMM2's limit cycle") == pytest.approx(
        100 * (osc.dominant_frequency_hz / f_cycle - 1), abs=0.05)
    seeds = pd.read_csv(report.out_dir / "e_network" / "network_seeds.csv")
    worst = np.max(np.abs(seeds[seeds.case == "oscillation"].dominant_frequency_hz / f_cycle - 1))
    assert 100 * worst < doc_number(r"every seed within ([\d.]+) %")
    ratio = osc.rhythm_amplitude_hz / summary[("oscillation", "nmm2")].rhythm_amplitude_hz
    assert 100 * abs(ratio - 1) < doc_number(r"fundamental within ([\d.]+) %")
    assert doc_number(r"stationary rate ([\d.]+) Hz") == pytest.approx(st.mean_rate_hz, abs=0.05)
    assert doc_number(r"Hz, ([+−\-][\d.]+) % from r\*") == pytest.approx(
        100 * (st.mean_rate_hz / (1000 * fixed_rate_khz(PYRAMIDAL)) - 1), abs=0.1)
    h2 = AMPLITUDE * abs(H(PYRAMIDAL, d.drive_frequency_hz, "nmm2"))
    h1 = AMPLITUDE * abs(H(PYRAMIDAL, d.drive_frequency_hz, "nmm1"))
    spread = doc_number(r"SD ([\d.]+) Hz over 5 seeds")
    assert d.response_amplitude_hz_sd < 2 * spread
    assert doc_number(r"network's response ([\d.]+) Hz") == pytest.approx(d.response_amplitude_hz, abs=2 * spread)
    assert doc_number(r"([\d.]+) times NMM1's") == pytest.approx(d.response_amplitude_hz / h1, abs=0.5)
    assert doc_number(r"response [\d.]+ Hz, ([\d.]+) of NMM2's") == pytest.approx(d.response_amplitude_hz / h2,
                                                                               abs=2 * spread / h2)
    assert doc_number(r"network phase ([−\-\d.]+) rad") == pytest.approx(d.response_phase_rad, abs=0.05)


def test_doc_method_settings_are_the_module_settings():
    """Settings stated in the method and files of part e are those the module runs with."""
    from stimsim.models._network import DEFAULT_V_PEAK
    from stimsim.reproduce import _network as e

    text = " ".join(SECTION.split())
    assert f"N = {e.NEURONS:,}".replace(",", " ") in text and f"{len(e.SEEDS)} seeds" in text
    assert DEFAULT_V_PEAK == 100.0 and "V_peak = 100" in text
    assert f"dt = {e.DT_MS:g} ms" in text and f"{e.DURATION_MS:g} ms, the first {e.TRANSIENT_MS:g} ms left out" in text
    assert f"I = {e.I_OSC:g}" in text and f"{e.DRIVE_AMPLITUDE:g} QIF units" in text
    lo, hi, step = e.PEAK_GRID_HZ
    assert f"{lo:g}–{hi:g} Hz in {step:g} Hz steps" in text
    assert f"every {e.DT_MS * e.RECORD_EVERY:g} ms" in text and f"centred {e.RATE_WINDOW_MS:g} ms window" in text
    assert f"Hann periodogram above {e.FMIN_HZ:g} Hz" in text
    assert f"{e.N_HARMONICS} harmonics" in text
    assert f"every {e.DT_MS * e.RECORD_EVERY * e.THIN:g} ms" in text and f"last {e.FIGURE_WINDOW_MS:g} ms" in text
    assert f"within {e.FREQ_RTOL:.0%}".replace("%", " %") in text and f"within {e.AMP_RTOL:.0%}".replace("%", " %") in text
    assert e.RATE_RTOL == e.FREQ_RTOL and f"more than {e.NMM1_FACTOR:g} times" in text
