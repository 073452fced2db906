"""Whole-brain protocol files ([network], [montage]) and `stimsim brain`, with the shipped protocols.

Each claim in the comments of protocols/brain/*.toml is checked here against the protocol's own
inputs (montage, waveforms, network) and, for the responses, against the run without the montage.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stimsim.brain._protocol import load_brain_protocol
from stimsim.cli import main

BRAIN = Path(__file__).resolve().parents[1] / "protocols" / "brain"
SHORT = []                       # the shipped settings (each run takes a few seconds)


def run(tmp_path, name, sets=(), folder=None):
    out = tmp_path / (folder or name)
    assert main(["brain", str(BRAIN / f"{name}.toml"), "--out", str(out), "--quiet", *[a for s in [*SHORT, *sets]
                                                                                     for a in ("--set", s)]]) == 0
    return out, pd.read_csv(out / "regional.csv")


def split(reg, model, window="during"):
    s = reg[(reg.model == model) & (reg.condition == "stimulated") & (reg.window == window)].reset_index(drop=True)
    b = reg[(reg.model == model) & (reg.condition == "baseline") & (reg.window == window)].reset_index(drop=True)
    return s, b


def test_tacs_alpha_occipital(tmp_path):
    bp = load_brain_protocol(BRAIN / "tacs-alpha-occipital.toml")
    assert dict(zip(bp.montage[0].electrodes, bp.montage[0].currents_ma)) == {"O1": 0.5, "O2": 0.5, "Cz": -1.0}
    w = bp.carrier.waveforms[0]
    assert (w.frequency_hz, bp.carrier.drive_frequency_hz) == (10.0, 10.0)
    t, ma = bp.carrier.drive_grid()
    assert np.max(ma) == pytest.approx(1.0, rel=1e-6) and np.ptp(ma) == pytest.approx(2.0, rel=1e-6)
    assert bp.network.n_regions == 30 and bp.network.speed_mm_per_ms == 5.0
    assert bp.carrier.circuit.name == "pyramidal-physiological" and bp.carrier.models == ("nmm2", "nmm1")
    out, reg = run(tmp_path, "tacs-alpha-occipital")
    assert {p.name for p in out.iterdir()} == {"regional.csv", "eeg_spectra.csv", "eeg.csv", "response_map.png",
                                                "eeg_spectra.png", "eeg.png", "metadata.json"}
    # the current flows for 3 s: 'during' is [1000, 3000] ms after the 1 s transient, 'after' [3000, 5000]
    assert bp.windows == (("during", 1000.0, 3000.0), ("after", 3000.0, 5000.0))
    for model in ("nmm2", "nmm1"):
        s, b = split(reg, model)
        # the field at peak is the montage's field per mA x 1 mA
        np.testing.assert_allclose(s.field_v_per_m_at_peak, bp.field[0].normal_v_per_m_per_ma * 1.0, rtol=1e-12)
        k = int(np.argmax(np.abs(s.field_v_per_m_at_peak)))
        # the most strongly stimulated region answers at 10 Hz far above its unstimulated run
        assert s.response_hz[k] > 20 * b.response_hz[k] and s.band_power_hz2[k] > 20 * b.band_power_hz2[k]
        # these models have no plasticity: after the current ends the 10 Hz answer dies out
        sa, ba = split(reg, model, "after")
        assert sa.response_hz[k] < 0.05 * s.response_hz[k]
    eeg = pd.read_csv(out / "eeg_spectra.csv")
    at10 = eeg[(eeg.freq_hz == 10.0) & (eeg.model == "nmm2")].pivot_table(index="electrode", columns=["condition", "window"],
                                                                        values="psd_au")
    assert (at10["stimulated", "during"] > at10["baseline", "during"]).all()
    assert (at10["stimulated", "after"] < 0.1 * at10["stimulated", "during"]).all()
    # the EEG traces: the montage's 10 Hz is in the stimulated trace at O1 while the current flows
    tr = pd.read_csv(out / "eeg.csv")
    o1 = tr[(tr.model == "nmm2") & (tr.electrode == "O1") & (tr.G == 0.3)]
    assert set(o1.condition) == {"stimulated", "baseline"} and o1.time_ms.min() == 1000.0
    on = o1[(o1.condition == "stimulated") & (o1.time_ms >= 1000) & (o1.time_ms < 3000)].eeg_au.std()
    off = o1[(o1.condition == "stimulated") & (o1.time_ms >= 4000)].eeg_au.std()
    assert on > 10 * off
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["protocol"]["name"] == "brain-tacs-alpha-occipital" and meta["regions"] == 30


def test_tdcs_f3_f4(tmp_path):
    bp = load_brain_protocol(BRAIN / "tdcs-f3-f4.toml")
    assert dict(zip(bp.montage[0].electrodes, bp.montage[0].currents_ma)) == {"F3": 1.0, "F4": -1.0}
    w = bp.carrier.waveforms[0]
    assert (w.amplitude, w.ramp_up_ms) == (2.0, 500.0)
    out, reg = run(tmp_path, "tdcs-f3-f4")
    for model in ("nmm2", "nmm1"):
        s, b = split(reg, model)
        np.testing.assert_allclose(s.field_v_per_m_at_peak, bp.field[0].normal_v_per_m_per_ma * 2.0, rtol=1e-12)
        # a DC drive shifts the mean rates: up where the normal field points into the cortex (models.md M6)
        top = np.argsort(-np.abs(s.field_v_per_m_at_peak.to_numpy()))[:6]
        dr = (s.mean_rate_hz - b.mean_rate_hz).to_numpy()[top]
        assert np.all(np.sign(dr) == np.sign(s.field_v_per_m_at_peak.to_numpy()[top]))


@pytest.mark.parametrize("sets, match", [
    (["montage.electrodes={O1 = 1.0, Cz = -0.5}"], "sum"),
    (["montage.electrodes={Q9 = 1.0, Cz = -1.0}"], "Q9"),
    (["network.connectome='nope.zip'"], "network.connectome"),
    (["network.colour=1"], r"network\.colour: unknown key"),
    (["network.speed_mm_per_ms=0.0"], "speed"),
    (["analysis.band_hz=[12.0, 8.0]"], "analysis.band_hz"),
    (["montage.waveforms.0.frequency_hz=-5.0"], r"montage\.waveforms"),
    (["run.dt_ms=5.0"], "dt_ms"),
    (["run.duration_ms=1400.0"], r"analysis\.band_hz: .* fewer than 2 frequency bins"),
    (["network.G=[0.1, 0.1]"], "repeated"),
    (["montage.waveforms.0.stop_ms=500.0"], r"montage\.waveforms: the montage current is zero throughout"),
    (["montage.waveforms.0.stop_ms=4900.0"], r"100 ms after stimulation .*after_stimulation = false"),
    (["analysis.after_stimulation='no'"], r"analysis\.after_stimulation: must be true or false"),
    (['run.models=["nmm2", "network"]', "run.neurons=100000000"], r"run \(model 'network'\): .* GiB"),
])
def test_bad_brain_protocols_are_one_line_exit_2(tmp_path, capsys, sets, match):
    out = tmp_path / "x"
    args = ["brain", str(BRAIN / "tacs-alpha-occipital.toml"), "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and pytest.importorskip("re").search(match, err[0]), err
    assert not out.exists()


def test_a_list_of_G_runs_as_lanes_and_equals_single_runs(tmp_path):
    sets = ["run.duration_ms=1300.0", "run.transient_ms=300.0", "run.models=['nmm2']", "network.regions=8"]
    out, reg = run(tmp_path, "tacs-alpha-occipital", [*sets, "network.G=[0.0, 0.3]"])
    assert sorted(reg.G.unique()) == [0.0, 0.3]
    for g in (0.0, 0.3):
        _, single = run(tmp_path, "tacs-alpha-occipital", [*sets, f"network.G={g}"], folder=f"single-{g}")
        cols = ["condition", "region", "mean_rate_hz", "response_hz", "phase_rad", "band_power_hz2"]
        a = reg[reg.G == g][cols].reset_index(drop=True)
        b = single[cols].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, rtol=1e-10, atol=1e-12)


def test_channels_superpose_one_montage_equals_its_two_halves(tmp_path):
    """Two channels with the same waveform, O1 vs Cz and O2 vs Cz at half the current each, are the
    shipped single-channel montage (O1 + O2 vs Cz): fields superpose (linear in the currents)."""
    import tomllib

    data = tomllib.loads((BRAIN / "tacs-alpha-occipital.toml").read_text())
    data["run"].update(duration_ms=1300.0, transient_ms=300.0, models=["nmm2"])
    data["network"]["regions"] = 8
    wave = data["montage"].pop("waveforms")
    data["montage"].pop("electrodes")
    data["montage"]["channels"] = [{"electrodes": {"O1": 0.5, "Cz": -0.5}, "waveforms": wave},
                                   {"electrodes": {"O2": 0.5, "Cz": -0.5}, "waveforms": wave}]
    two = load_brain_protocol(_write(tmp_path / "two.toml", data))
    one = load_brain_protocol(BRAIN / "tacs-alpha-occipital.toml",
                              sets=["run.duration_ms=1300.0", "run.transient_ms=300.0", "run.models=['nmm2']",
                                    "network.regions=8"])
    assert len(two.field) == 2 and len(one.field) == 1
    # the per-mA fields of the halves are those of the whole (each half injects 0.5 of the 1 mA)
    np.testing.assert_allclose(0.5 * (two.field[0].normal_v_per_m_per_ma + two.field[1].normal_v_per_m_per_ma),
                               one.field[0].normal_v_per_m_per_ma, rtol=1e-9, atol=1e-12)
    from stimsim.brain._protocol import run_brain_protocol

    a, _ = run_brain_protocol(two, tmp_path / "a", progress=False)
    b, _ = run_brain_protocol(one, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=1e-12)


def _write(path, data):
    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{kk} = {value(vv)}" for kk, vv in v.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_brain_protocol_runs_the_spiking_network_beside_the_mean_fields(tmp_path):
    p = tmp_path / "spiking.toml"
    p.write_text("""
name = "spiking"
[network]
connectome = "generated"
regions = 3
seed = 2
local = "pyramidal"
G = 0.5
[montage]
electrodes = { O1 = 1.0, Cz = -1.0 }
[[montage.waveforms]]
kind = "sine"
amplitude = 2.0
frequency_hz = 20.0
convention = "zero_to_peak"
[run]
models = ["nmm2", "network"]
duration_ms = 600.0
transient_ms = 100.0
dt_ms = 0.01
record_every = 50
neurons = 20000
seed = 3
[analysis]
band_hz = [15.0, 25.0]
""")
    out = tmp_path / "out"
    assert main(["brain", str(p), "--out", str(out), "--quiet"]) == 0
    reg = pd.read_csv(out / "regional.csv")
    assert set(reg.model) == {"nmm2", "network"}
    net = reg[(reg.model == "network") & (reg.condition == "baseline")].mean_rate_hz.to_numpy()
    nmm2 = reg[(reg.model == "nmm2") & (reg.condition == "baseline")].mean_rate_hz.to_numpy()
    # 20 000 neurons per region: the spiking network's rates are NMM2's (exact mean field) within 2 %
    np.testing.assert_allclose(net, nmm2, rtol=0.02)
    # the long-range coupling matters far beyond 2 %: the uncoupled population fires at its fixed point
    import stimsim

    alone = 1000.0 * stimsim.find_fixed_points(stimsim.preset("pyramidal"))[0][0]
    assert np.all(nmm2 > 1.05 * alone) and np.all(net > 1.05 * alone)
