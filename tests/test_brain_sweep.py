"""Whole-brain studies through the sweep engine ([sweep] in a whole-brain protocol), and
entrainment per region.

A sweep point is checked against the same network run by `stimsim brain` (a different path:
the protocol's waveform, its own batch); batching, chunking and resuming must not change a number;
entrainment per region is checked against `stimsim.entrainment` of the lone circuit.
"""
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stimsim
from stimsim.brain import BrainNetwork, RegionalStimulus, regional_entrainment, simulate_network
from stimsim.brain._protocol import load_brain_protocol
from stimsim.cli import main
from stimsim.sweep import run_sweep

NETWORK = """
name = "bs"
[network]
connectome = "generated"
regions = 6
seed = 2
local = "pyramidal-physiological"
G = 0.3
speed_mm_per_ms = 5.0
[montage]
fields = "sphere"
{electrodes}
[run]
models = ["nmm2", "nmm1"]
duration_ms = 1200.0
transient_ms = 200.0
dt_ms = 0.05
record_every = 10
"""
SWEEP = """
[sweep]
amplitude = 2.0
{extra}
[sweep.parameters]
{parameters}
"""
RUN = """
[[montage.waveforms]]
kind = "sine"
amplitude = 2.0
frequency_hz = {f}
convention = "zero_to_peak"
"""


def write(tmp_path, text, name="bs.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def sweep_protocol(tmp_path, parameters, extra="", electrodes='electrodes = { O1 = 1.0, Cz = -1.0 }'):
    return write(tmp_path, NETWORK.format(electrodes=electrodes) + SWEEP.format(parameters=parameters, extra=extra))


def read(folder):
    return pd.read_csv(folder / "results.csv", dtype={"task_key": str, "reason": str, "ratio": str},
                       keep_default_na=False, na_values=[""])


def test_a_sweep_point_equals_the_same_run_by_stimsim_brain(tmp_path):
    p = sweep_protocol(tmp_path, 'G = [0.0, 0.4]\nfrequency_hz = [20.0, 30.0]')
    assert main(["sweep", str(p), "--out", str(tmp_path / "s"), "--quiet"]) == 0
    sw = read(tmp_path / "s")
    assert len(sw) == 4 * 2 * 6 and set(sw.status) == {"ok"}
    assert sw.groupby(["point_id", "model"]).region.nunique().eq(6).all()
    meta = json.loads((tmp_path / "s" / "metadata.json").read_text())
    assert "region" in meta["task"]["columns"] and "locked" in meta["task"]["columns"]
    # the same network, G = 0.4, driven at 30 Hz by the protocol's own waveform (2 mA cos)
    brain = write(tmp_path, NETWORK.format(electrodes='electrodes = { O1 = 1.0, Cz = -1.0 }')
                  .replace("G = 0.3", "G = 0.4") + RUN.format(f=30.0), "run.toml")
    assert main(["brain", str(brain), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    reg = pd.read_csv(tmp_path / "b" / "regional.csv", keep_default_na=False, na_values=[""], dtype={"ratio": str})
    for model in ("nmm2", "nmm1"):
        s = sw[(sw.model == model) & (sw.G == 0.4) & (sw.frequency_hz == 30.0)].reset_index(drop=True)
        b = reg[(reg.model == model) & (reg.condition == "stimulated")].reset_index(drop=True)
        base = reg[(reg.model == model) & (reg.condition == "baseline")].reset_index(drop=True)
        assert list(s.region) == list(b.region)
        np.testing.assert_allclose(s.field_v_per_m_per_ma * 2.0, b.field_v_per_m_at_peak, rtol=1e-12)
        for col in ("mean_rate_hz", "response_hz", "band_power_hz2", "gain_hz_per_v_per_m"):
            np.testing.assert_allclose(s[col], b[col], rtol=1e-9, atol=1e-12, err_msg=col)
        np.testing.assert_allclose(s.phase_rad, b.phase_rad, atol=1e-6)
        np.testing.assert_allclose(s.baseline_rate_hz, base.mean_rate_hz, rtol=1e-12)
        np.testing.assert_allclose(s.baseline_band_power_hz2, base.band_power_hz2, rtol=1e-9, atol=1e-30)
        assert list(s.locked) == list(b.locked) and list(s.self_oscillating) == list(b.self_oscillating)
        # uncoupled (G = 0) and weakly driven, every region answers in proportion to its field
        u = sw[(sw.model == model) & (sw.G == 0.0) & (sw.frequency_hz == 30.0)]
        strong = np.abs(u.field_v_per_m_per_ma) > 0.01 * np.abs(u.field_v_per_m_per_ma).max()
        per_field = u.gain_hz_per_v_per_m[strong]
        np.testing.assert_allclose(per_field, (u.response_hz / np.abs(2.0 * u.field_v_per_m_per_ma))[strong], rtol=1e-12)
        assert strong.sum() >= 4 and per_field.max() < 1.01 * per_field.min(), per_field


def test_montage_axis_chunking_and_resume_do_not_change_a_number(tmp_path):
    p = sweep_protocol(tmp_path, 'G = [0.0, 0.5]\nmontage = ["back", "front"]\nfrequency_hz = [20.0, 25.0]',
                       extra="[sweep.montages]\nback = { O1 = 1.0, Cz = -1.0 }\nfront = { F3 = 1.0, F4 = -1.0 }",
                       electrodes="")
    task, design, _ = load_brain_protocol(p).sweep
    assert task.montage_names == ("back", "front") and design.n_points == 8
    one = run_sweep(task, design, tmp_path / "one", chunk_size=1, progress=False).table
    three = run_sweep(task, design, tmp_path / "three", chunk_size=3, progress=False).table
    pd.testing.assert_frame_equal(one, three)
    assert set(one.montage) == {"back", "front"} and len(one) == 8 * 2 * 6
    # the two montages give different regional fields; the field is per mA of the montage current
    f_back = one[(one.montage == "back") & (one.point_id == 0) & (one.model == "nmm2")].field_v_per_m_per_ma.to_numpy()
    f_front = one[(one.montage == "front")].groupby("region", sort=False).field_v_per_m_per_ma.first().to_numpy()
    assert np.max(np.abs(f_back - f_front)) > 0.1 * np.max(np.abs(f_back))
    # an interrupted sweep: keep the first two parts (and the manifest), resume with another chunk size
    cut = tmp_path / "cut"
    cut.mkdir()
    shutil.copy(tmp_path / "three" / "sweep.json", cut / "sweep.json")
    shutil.copy(tmp_path / "three" / "manifest.csv", cut / "manifest.csv")
    (cut / "parts").mkdir()
    for f in sorted((tmp_path / "three" / "parts").glob("part-*.csv"))[:2]:
        shutil.copy(f, cut / "parts" / f.name)
    rep = run_sweep(task, design, cut, chunk_size=2, resume=True, progress=False)
    assert rep.metadata["resumed_from"] == 6 and rep.metadata["computed_this_run"] == 2
    assert rep.metadata["rejected_parts"] == []
    pd.testing.assert_frame_equal(rep.table, one)
    # a part that lost 3 region rows is not done: one warning, moved aside, computed again
    part = min((cut / "parts").glob("part-*.csv"))
    lines = part.read_text().splitlines()
    part.write_text("\n".join(lines[:-3]) + "\n")
    (cut / "results.csv").unlink()
    with pytest.warns(UserWarning, match=re.escape(f"{part}: its sha256 differs from manifest.csv")) as record:
        rep = run_sweep(task, design, cut, chunk_size=2, resume=True, progress=False)
    assert len(record) == 1 and rep.metadata["computed_this_run"] == 3
    assert (cut / "rejected" / part.name).is_file()
    pd.testing.assert_frame_equal(rep.table, one)
    assert len(rep.table) == 8 * 2 * 6


def test_a_list_design_keeps_repeated_points_with_every_region(tmp_path, capsys):
    p = sweep_protocol(tmp_path, 'G = [0.0, 0.5, 0.0]\nfrequency_hz = [20.0, 20.0, 20.0]',
                       extra='design = "list"\nentrainment = false', electrodes=EL)
    assert main(["sweep", str(p), "--out", str(tmp_path / "s"), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("3 points x 2 models: 36 ok")
    t = read(tmp_path / "s")
    assert len(t) == 3 * 2 * 6 and t.groupby(["point_id", "model"]).region.nunique().eq(6).all()
    a = t[t.point_id == 0].drop(columns="point_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, t[t.point_id == 2].drop(columns="point_id").reset_index(drop=True))
    assert not np.allclose(a.response_hz, t[t.point_id == 1].response_hz)


def test_entrainment_per_region_agrees_with_the_lone_circuit():
    # PING (gamma rhythm) regions, uncoupled: region 0 driven hard at its rhythm, region 1 not at all
    ping = stimsim.preset("ping")
    net = BrainNetwork(ping, np.zeros((2, 2)), np.full((2, 2), 10.0), G=0.0, sender="E")
    crit = stimsim.analysis.LockingCriterion()
    ent = stimsim.entrainment(ping, "nmm2", freqs_hz=[40.0], amplitudes=[0.0],
                              grid=stimsim.analysis.EntrainmentGrid(dt_ms=0.01, settle_ms=500, measure_ms=1000))
    f_nat = float(ent.natural_freq_hz.iloc[0])
    f, amp = round(f_nat * 1.03, 1), 3.0                           # 3 % detuned, input units on E
    ref = stimsim.entrainment(ping, "nmm2", freqs_hz=[f], amplitudes=[amp],
                              drive=stimsim.analysis.Drive(unit="current", populations=("E",)),
                              grid=stimsim.analysis.EntrainmentGrid(dt_ms=0.01, settle_ms=500, measure_ms=1000))
    dt = 0.01
    t = np.arange(int(1500 / (dt / 2)) + 1) * dt / 2
    pattern = np.zeros((1, 2, 2))
    pattern[0, 0, 0] = amp                                          # E of region 0 only
    stim = RegionalStimulus(pattern, np.cos(2 * np.pi * f * t / 1000)[:, None], dt / 2)
    res = simulate_network(net, "nmm2", duration_ms=1500, dt_ms=dt, stimulus=stim, record_every=5,
                           field_scale=[1.0, 0.0])
    keep = res.time_ms >= 500
    r = res.rate_hz[keep][:, :, 0, :]                               # (n, 2 regions, 2 sets)
    out = regional_entrainment(r[:, :, 0].T, r[:, :, 1].T, 0.05, f, t0_ms=float(res.time_ms[keep][0]), criterion=crit)
    assert out.self_oscillating.all()
    np.testing.assert_allclose(out.natural_freq_hz, f_nat, rtol=0.01)
    assert bool(ref.locked_1to1.iloc[0]) and out.locked_1to1[0]    # the lone circuit locks, and so does region 0
    assert out.plv_1to1[0] == pytest.approx(float(ref.plv_1to1.iloc[0]), abs=0.05)
    assert not out.locked_1to1[1] and out.plv_1to1[1] < 0.5         # region 1 keeps its own rhythm
    np.testing.assert_allclose(out.mean_freq_hz, [f, f_nat], rtol=0.01)


EL = "electrodes = { O1 = 1.0, Cz = -1.0 }"
X = "[sweep.montages]\nx = { O1 = 1.0, Cz = -1.0 }"


@pytest.mark.parametrize("parameters, extra, electrodes, match", [
    ('montage = ["x"]', "frequency_hz = 20.0\n" + X, "", None),
    ('montage = ["nope"]', "frequency_hz = 20.0\n" + X, "", r"sweep\.parameters\.montage: 'nope' is not in"),
    ('montage = ["x"]', "frequency_hz = 20.0", "", r"sweep\.montages: is required"),
    ('montage = ["x"]', 'frequency_hz = 20.0\ndesign = "random"\n' + X, "", r"montage: a montage axis needs design"),
    ('G = [0, 1]', "frequency_hz = 20.0\n" + X, EL, r"sweep\.montages: applies only"),
    ('G = [0, 1]', "frequency_hz = 20.0", "", r"montage\.electrodes: is required unless montage is a sweep parameter"),
    ('G = [0, 1]', "", EL, r"sweep\.frequency_hz: is required"),
    ('speed_mm_per_ms = [0.0, 1.0]', "frequency_hz = 20.0", EL, r"speed_mm_per_ms: values must be > 0"),
    ('tau_q = [1.0]', "frequency_hz = 20.0", EL, r"sweep\.parameters\.tau_q"),
    ('frequency_hz = [2.0]', "", EL, r"sweep\.entrainment: the analysed 1000 ms"),
    ('frequency_hz = [2.0]', "entrainment = false\nbad_key = 1", EL, r"sweep\.bad_key: unknown key"),
    ('frequency_hz = [200.0]', "", EL, r"run\.record_every = 10 records every 0\.5 ms"),
    ('amplitude = [-1.0, 1.0]', "frequency_hz = 20.0", EL, r"sweep\.parameters\.amplitude: amplitudes are mA zero-to-peak >= 0, got -1"),
    ('amplitude = [-1.0, 1.0]', 'frequency_hz = 20.0\ndesign = "lhs"', EL, r"sweep\.parameters\.amplitude: amplitudes are mA zero-to-peak >= 0"),
    ('eta_bar = [0.0, 1.0]\n"eta_bar[P]" = [1.0, 2.0]', "frequency_hz = 20.0", EL,
     r"sweep\.parameters\.eta_bar\[P\]: sets the same circuit entry as eta_bar \(eta_bar\[P\]\)"),
])
def test_bad_brain_sweeps_are_one_line_errors_before_anything_runs(tmp_path, capsys, parameters, extra, electrodes, match):
    p = sweep_protocol(tmp_path, parameters, extra=extra, electrodes=electrodes)
    if match is None:
        assert load_brain_protocol(p).sweep[0].montage_names == ("x",)
        return
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and re.search(match, err), err
    assert not (tmp_path / "o").exists()


def test_stimsim_brain_refuses_a_sweep_and_a_sweep_refuses_waveforms(tmp_path, capsys):
    p = sweep_protocol(tmp_path, "G = [0.0, 0.5]", extra="frequency_hz = 20.0", electrodes=EL)
    assert main(["brain", str(p), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "run it with 'stimsim sweep" in capsys.readouterr().err
    q = write(tmp_path, p.read_text().replace("[run]", RUN.format(f=20.0) + "[run]", 1), "w.toml")
    assert main(["sweep", str(q), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "montage.waveforms: a [sweep] drives one montage with its own sinusoid" in capsys.readouterr().err
    r = write(tmp_path, p.read_text().replace("G = 0.3", "G = [0.1, 0.3]"), "g.toml")
    assert main(["sweep", str(r), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "network.G: is one value in a sweep" in capsys.readouterr().err


def test_the_shipped_whole_brain_sweep_runs_as_described(tmp_path):
    p = Path(__file__).resolve().parents[1] / "protocols" / "brain" / "sweep-montage-frequency.toml"
    task, design, _ = load_brain_protocol(p).sweep
    # the comment: 3 G x 2 montages x 5 frequencies = 30 points on 20 regions, NMM2 and NMM1
    assert design.n_points == 30 and task.names == ("G", "montage", "frequency_hz")
    assert task.network.n_regions == 20 and task.models == ("nmm2", "nmm1") and task.amplitude == 1.0
    assert dict(task.montage_electrodes[0]) == {"O1": 0.5, "O2": 0.5, "Cz": -1.0}
    assert dict(task.montage_electrodes[1]) == {"F3": 1.0, "F4": -1.0}
    assert main(["sweep", str(p), "--out", str(tmp_path / "s"), "--quiet"]) == 0
    t = read(tmp_path / "s")
    assert len(t) == 30 * 2 * 20 and set(t.status) == {"ok"}
    assert sorted(t.frequency_hz.unique()) == [8.0, 9.0, 10.0, 11.0, 12.0]
    # each montage moves most the regions under its electrodes: occipital regions (posterior
    # centres) answer the occipital montage more than the frontal one, and the other way round
    conn = load_brain_protocol(p).connectome
    y = dict(zip(conn.region_labels, conn.centres_mm[:, 1]))
    back = [r for r, v in y.items() if v < np.quantile(list(y.values()), 0.25)]
    front = [r for r, v in y.items() if v > np.quantile(list(y.values()), 0.75)]
    u = t[(t.model == "nmm2") & (t.G == 0.0) & (t.frequency_hz == 10.0)].set_index(["montage", "region"]).response_hz
    assert u["occipital"][back].mean() > u["frontal"][back].mean()
    assert u["frontal"][front].mean() > u["occipital"][front].mean()


def test_a_dask_cluster_gives_the_local_table(tmp_path):
    pytest.importorskip("dask.distributed")
    p = sweep_protocol(tmp_path, 'G = [0.0, 0.5]\nfrequency_hz = [20.0, 25.0]', extra="", electrodes=EL)
    task, design, _ = load_brain_protocol(p).sweep
    local = run_sweep(task, design, tmp_path / "local", chunk_size=2, progress=False)
    dask = run_sweep(task, design, tmp_path / "dask", workers=2, chunk_size=1, progress=False)
    assert dask.metadata["executor"]["executor"] == "dask"
    pd.testing.assert_frame_equal(local.table, dask.table)
