"""Protocol loader: schema, defaults, resolved round trip, bad input (one clear line, exit 2,
nothing written) and a hypothesis fuzz (clean error or valid protocol, never a traceback)."""
import copy
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stimsim.cli import main
from stimsim.protocol import Protocol, ProtocolError, load_dict, load_protocol
from stimsim.protocol import waveforms as wf

BASE = {
    "name": "base",
    "circuit": {"preset": "pyramidal", "overrides": {"J": 8.0, "eta_bar": 1.0}},
    "run": {"duration_ms": 200.0, "dt_ms": 0.05, "transient_ms": 50.0, "record_every": 10},
    "stimulation": {"unit": "field", "waveforms": [
        {"kind": "sine", "amplitude": 2.0, "convention": "peak_to_peak", "frequency_hz": 10.0}]},
}

TOML = """
name = "demo"
[circuit]
preset = "pyramidal"
[run]
duration_ms = 200.0
dt_ms = 0.05
[[stimulation.waveforms]]
kind = "dc"
amplitude = 1.0
"""


def protocol(**changes):
    d = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = d
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        node[keys[-1]] = value
    return d


# --- valid protocols --------------------------------------------------------------------------------------
def test_defaults_and_contract():
    p = load_dict(BASE)
    assert isinstance(p, Protocol)
    assert p.name == "base" and p.source is None and p.preset == "pyramidal"
    assert p.models == ("nmm2", "nmm1") and p.integrator == "rk4" and p.initial == "fixed_point"
    assert p.circuit.populations[0].eta_bar == 1.0 and p.circuit.J[0, 0] == 8.0
    assert p.drive_unit == "field" and p.waveform_dt_ms == 0.025
    # models.md M6: gain = lambda / scale = 0.12 mm / 10 mV per unit (defaults of stimsim.coupling)
    np.testing.assert_allclose(p.input_gains, [0.012], rtol=1e-15)
    assert p.drive_frequency_hz == 10.0 and p.drive_phase_rad == 0.0
    assert p.study is None and p.has_timeseries
    assert p.variables == ("rate_hz", "v", "s_hz", "z_hz") and p.include_transient is False
    w = p.waveforms[0]
    assert isinstance(w, wf.Sine) and w.peak == 1.0


def test_resolved_round_trip_is_a_fixed_point():
    p = load_dict(BASE)
    again = load_dict(json.loads(json.dumps(p.resolved)))
    assert again.resolved == p.resolved
    t, d = p.drive_grid()
    t2, d2 = again.drive_grid()
    assert np.array_equal(d, d2)


def test_noise_seed_drawn_and_recorded():
    d = protocol(stimulation__waveforms=[{"kind": "noise", "amplitude": 0.5, "convention": "rms",
                                          "low_hz": 1.0, "high_hz": 500.0}])
    p = load_dict(d)
    seed = p.resolved["stimulation"]["waveforms"][0]["seed"]
    assert isinstance(seed, int) and p.seeds() == {"stimulation.waveforms[0].seed": seed}
    assert np.array_equal(load_dict(p.resolved).drive_grid()[1], p.drive_grid()[1])


def test_toml_file_and_default_name(tmp_path):
    path = tmp_path / "my-protocol.toml"
    path.write_text(TOML.replace('name = "demo"\n', ""))
    p = load_protocol(path)
    assert p.name == "my-protocol" and p.source == path
    assert p.waveforms[0].amplitude == 1.0


def test_overrides_forms():
    d = protocol(circuit={"preset": "ing-ei", "overrides": {"eta_bar": {"E": 3.0}, "J": {"E": {"I": -20.0}}}})
    d["run"]["dt_ms"] = 0.02
    p = load_dict(d)
    assert p.circuit.populations[0].eta_bar == 3.0 and p.circuit.populations[1].eta_bar == 2.0
    assert p.circuit.J[0, 1] == -20.0 and p.circuit.J[1, 0] == 15.0
    d["circuit"]["overrides"] = {"J": [[1.0, -1.0], [1.0, -2.0]]}
    assert load_dict(d).circuit.J.tolist() == [[1.0, -1.0], [1.0, -2.0]]


def test_coupling_per_population_and_current_mode():
    d = protocol(circuit={"preset": "ping"})
    d["run"]["dt_ms"] = 0.02
    d["stimulation"]["coupling"] = {"lambda_mm": {"E": 0.24, "I": 0.0}, "scale_mv_per_unit": 12.0}
    p = load_dict(d)
    np.testing.assert_allclose(p.input_gains, [0.02, 0.0], rtol=1e-15)
    d["stimulation"]["unit"] = "current"
    d["stimulation"]["coupling"] = {"populations": ["I"]}
    p = load_dict(d)
    assert p.input_gains.tolist() == [0.0, 1.0] and p.drive_label == "drive_model_units"


def test_set_overrides(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(TOML)
    p = load_protocol(path, sets=["run.duration_ms=400", "stimulation.waveforms[0].amplitude=-2.5",
                                  "run.models=[\"nmm1\"]", "name=other"])
    assert p.duration_ms == 400.0 and p.waveforms[0].amplitude == -2.5 and p.models == ("nmm1",)
    assert p.name == "other"
    with pytest.raises(ProtocolError, match="not an index"):
        load_protocol(path, sets=["stimulation.waveforms.3.amplitude=1"])
    with pytest.raises(ProtocolError, match="key.path=value"):
        load_protocol(path, sets=["run.duration_ms"])
    with pytest.raises(ProtocolError, match="did you mean 'duration_ms'"):
        load_protocol(path, sets=["run.duration=5"])


def test_study_is_validated_with_the_protocol():
    p = load_dict(protocol(study={"kind": "frequency_response", "freqs_hz": {"start": 2, "stop": 8, "step": 2},
                                  "method": "linear", "parameters": {"eta_bar.P": [1.0, 2.0]}}))
    assert p.study.kind == "frequency_response" and p.study.method == "linear"
    assert p.study.freqs_hz == (2.0, 4.0, 6.0, 8.0)
    assert p.study.parameter_sets() == [{"eta_bar.P": 1.0}, {"eta_bar.P": 2.0}]
    assert p.resolved["study"]["freqs_hz"] == {"start": 2, "stop": 8, "step": 2}   # as written
    assert load_dict(p.resolved).study == p.study


def test_metadata_json_is_accepted(tmp_path):
    p = load_dict(BASE)
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps({"protocol": p.resolved, "environment": {}}))
    assert load_protocol(meta).resolved == p.resolved


# --- bad input: one clear line naming file, key path and problem ------------------------------------------
BAD = [
    (protocol(run__duration_ms=-5.0), "run.duration_ms: must be > 0 ms, got -5"),
    (protocol(run__duration_ms="long"), "run.duration_ms: must be a number in ms, got 'long'"),
    (protocol(run__duration=100.0), "run: unknown key 'duration' (did you mean 'duration_ms'?)"),
    (protocol(run__dt_ms=2.0), "dt_ms=2.0 is too coarse"),
    (protocol(run__transient_ms=300.0), "run.transient_ms: transient_ms=300 must be shorter"),
    (protocol(run__record_every=1.5), "run.record_every: must be an integer"),
    (protocol(run__models=["nmm3"]), "'nmm3' is not allowed (did you mean 'nmm2'?)"),
    (protocol(circuit__preset="pyramid"), "circuit.preset: 'pyramid' is not allowed (did you mean 'pyramidal'?)"),
    (protocol(circuit__overrides={"eta": 1.0}), "unknown parameter 'eta'"),
    (protocol(circuit__overrides={"eta_bar": {"X": 1.0}}), "unknown population 'X'"),
    (protocol(stimulation__coupling={"populations": ["Q"]}), "'Q' is not allowed"),
    (protocol(stimulation__coupling={"lambda_mm": {"Pyr": 0.1}}), "unknown population 'Pyr'"),
    (protocol(stimulation__coupling={"lambda_mm": -0.1}), "lambda_mm: must be >= 0"),
    (protocol(stimulation__coupling={"lambda_mm": 0.0}), "the drive reaches no population"),
    (protocol(stimulation__unit="volts"), "'volts' is not allowed"),
    (protocol(stimulation__waveform_dt_ms=0.03), "must be a whole multiple of dt_ms/2"),
    (protocol(stimulation__waveforms__0__frequency_hz=20000.0), "Nyquist frequency 10000 Hz"),
    (protocol(stimulation__waveforms__0__frequency_hz=-1.0), "frequency_hz must be > 0 Hz"),
    (protocol(stimulation__waveforms__0__freq_hz=10.0), "unknown key 'freq_hz' (did you mean 'frequency_hz'?)"),
    (protocol(stimulation__waveforms__0__convention="p2p"), "amplitude convention 'p2p'"),
    (protocol(stimulation__waveforms__0__kind="sin"), "'sin' is not allowed (did you mean 'sine'?)"),
    (protocol(stimulation__waveforms=[{"kind": "sine", "amplitude": 1.0, "frequency_hz": 5.0}]),
     "stimulation.waveforms[0].convention: is required"),
    (protocol(stimulation__waveforms=[{"kind": "noise", "amplitude": 1.0, "convention": "rms",
                                       "low_hz": 0.0, "high_hz": 100.0}]), "low_hz must be > 0 Hz"),
    (protocol(stimulation__waveforms=[{"kind": "noise", "amplitude": 1.0, "convention": "rms",
                                       "low_hz": 1.0, "high_hz": 15000.0}]), "not below the Nyquist"),
    (protocol(stimulation__waveforms=[{"kind": "csv", "path": "/nonexistent/field.csv"}]), "cannot read waveform CSV"),
    (protocol(stimulation__waveforms=[{"kind": "pulses", "amplitude": 1.0, "convention": "rms",
                                       "frequency_hz": 10.0, "width_ms": 0.01}]), "shorter than the waveform sample spacing"),
    (protocol(stimulation__device={"current_ma": "2 mA"}), "stimulation.device.current_ma: must be a number in mA"),
    (protocol(analysis__drive_frequency_hz=2.0), "shorter than one cycle"),
    (protocol(output__variables=["rate"]), "'rate' is not allowed (did you mean 'rate_hz'?)"),
    (protocol(extra=1), "<top level>: unknown key 'extra'"),
    (protocol(name="bad/name"), "must be a folder-safe name"),
    ({**protocol(), "circuit": {"preset": "jansen-rit"}, "run": {"models": ["nmm2"], "duration_ms": 100.0, "dt_ms": 0.05}},
     "exists only for QIF populations"),
    (protocol(run__duration_ms=1e12), "steps is more than"),
    # [study]: the table (stimsim.protocol.study.validate_study), then against circuit and run
    (protocol(study=[1.0]), "protocol: study: must be a table, got a list"),
    (protocol(study={"freqs_hz": [1.0]}), "study.kind: is required; allowed: frequency_response, entrainment"),
    (protocol(study={"kind": "frequency_response", "freqs_hz": [1.0], "methd": "linear"}),
     "study.methd: unknown key (did you mean 'method'?)"),
    (protocol(study={"kind": "entrainment", "freqs_hz": [1.0], "method": "linear"}),
     "study.method: unknown key (only for kind = 'frequency_response')"),
    (protocol(study={"kind": "entrainment", "freqs_hz": {"start": 1, "stop": 5, "num": 0}}),
     "study.freqs_hz.num: must be an integer >= 1, got 0"),
    (protocol(study={"kind": "frequency_response", "freqs_hz": [1.0], "parameters": {"tau_m": ["a"]}}),
     "study.parameters.tau_m[0]: must be a number, got 'a'"),
    (protocol(study={"kind": "frequency_response", "freqs_hz": [5.0, 10000.0]}),
     "study.freqs_hz: 10000 Hz is not below the Nyquist frequency 10000 Hz of run.dt_ms = 0.05"),
    (protocol(study={"kind": "frequency_response", "freqs_hz": [5.0], "output_population": "E"}),
     "study.output_population: 'E' is not a population; allowed: P"),
    (protocol(study={"kind": "frequency_response", "freqs_hz": [5.0], "parameters": {"eta_bar.Q": [1.0]}}),
     "study.parameters.eta_bar.Q: population 'Q' does not exist; allowed: P"),
]


@pytest.mark.parametrize("data, message", BAD, ids=[m[:40] for _, m in BAD])
def test_bad_input_names_key_path(data, message):
    with pytest.raises(ProtocolError) as info:
        load_dict(data)
    text = str(info.value)
    assert message in text
    assert text.startswith("protocol: ") and "\n" not in text


def test_malformed_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[run\nduration_ms = 1\n")
    with pytest.raises(ProtocolError, match=r"broken.toml: malformed TOML"):
        load_protocol(path)


def run_cli(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize("content, message", [
    ("[run\n", "malformed TOML"),
    (TOML.replace("duration_ms = 200.0", 'duration_ms = "200"'), "run.duration_ms: must be a number"),
    (TOML.replace("duration_ms = 200.0", "duration_ms = -200.0"), "run.duration_ms: must be > 0"),
    (TOML.replace('kind = "dc"\namplitude = 1.0',
                  'kind = "sine"\namplitude = 1.0\nconvention = "rms"\nfrequency_hz = 15000.0'), "Nyquist"),
    (TOML.replace('kind = "dc"\namplitude = 1.0',
                  'kind = "noise"\namplitude = 1.0\nconvention = "rms"\nlow_hz = 10.0\nhigh_hz = 1e5'), "Nyquist"),
    (TOML.replace('kind = "dc"\namplitude = 1.0', 'kind = "csv"\npath = "wave.csv"'), "line 3, column 'field_v_per_m'"),
    (TOML.replace('kind = "dc"\namplitude = 1.0', 'kind = "csv"\npath = "missing.csv"'), "cannot read waveform CSV"),
    (TOML + "[stimulation.coupling]\npopulations = ['E']\n", "'E' is not allowed"),
])
def test_cli_bad_input_exit_2_one_line_nothing_written(tmp_path, monkeypatch, capsys, content, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wave.csv").write_text("time_ms,field_v_per_m\n0,1\n1,x\n")
    (tmp_path / "p.toml").write_text(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, err = run_cli(["run", "p.toml", "--out", "out"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stimsim: error: p.toml: ") and message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before          # no out/, no results/


def test_cli_missing_file_and_check(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(["run", "nope.toml"], capsys)
    assert code == 2 and "nope.toml: cannot read protocol file" in err
    (tmp_path / "p.toml").write_text(TOML)
    assert main(["run", "p.toml", "--check"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["run"]["duration_ms"] == 200.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]


def test_cli_refuses_nonempty_out_before_running(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.toml").write_text(TOML)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    code, err = run_cli(["run", "p.toml", "--out", "out"], capsys)
    assert code == 2 and "already exists and is not empty" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


# --- fuzz -------------------------------------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["nmm2", "nmm1", "sine", "dc", "noise", "rms", "peak_to_peak", "P", "field",
                                     "current", "pyramidal", "ping", "jansen-rit", "interneurons", "fixed_point"]))
keys = st.one_of(st.text(max_size=10), st.sampled_from(
    ["name", "circuit", "run", "stimulation", "preset", "overrides", "duration_ms", "dt_ms", "models",
     "waveforms", "kind", "amplitude", "convention", "frequency_hz", "low_hz", "high_hz", "coupling",
     "lambda_mm", "populations", "J", "eta_bar", "transient_ms", "record_every", "unit", "study",
     "output", "analysis", "path", "width_ms", "carrier_hz"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(keys, inner, max_size=5)), max_leaves=20)


def _paths(d, prefix=()):
    out = [prefix]
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out += _paths(v, prefix + (i,))
    return out


def _get(d, path):
    for k in path:
        d = d[k]
    return d


def _check_outcome(data):
    try:
        p = load_dict(data)
    except ProtocolError as exc:
        text = str(exc)
        assert text.startswith("protocol: ") and "\n" not in text and len(text) < 2000
        return
    assert isinstance(p, Protocol)
    assert load_dict(p.resolved).resolved == p.resolved        # a valid protocol re-validates as itself
    json.dumps(p.resolved)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_fuzz_random_structures(data):
    _check_outcome(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_valid_protocols(data):
    d = copy.deepcopy(BASE)
    d["stimulation"]["waveforms"].append(copy.deepcopy(data.draw(st.sampled_from([
        {"kind": "noise", "amplitude": 0.5, "convention": "rms", "low_hz": 1.0, "high_hz": 600.0, "seed": 3},
        {"kind": "pulses", "amplitude": 1.0, "convention": "zero_to_peak", "frequency_hz": 20.0, "width_ms": 2.0},
        {"kind": "ti", "amplitude": 1.0, "convention": "zero_to_peak", "carrier_hz": 1000.0, "difference_hz": 10.0},
        {"kind": "am", "amplitude": 1.0, "convention": "rms", "carrier_hz": 200.0, "modulation_hz": 5.0},
        {"kind": "dc", "amplitude": -1.0, "ramp_up_ms": 10.0, "stop_ms": 150.0, "ramp_down_ms": 10.0},
    ]))))
    plausible = st.one_of(st.floats(1e-3, 1e3), st.integers(1, 20), st.sampled_from(
        ["zero_to_peak", "rms", "nmm1", "current", "linear", "raised_cosine", "P", ["P"], ["nmm1"]]))
    for _ in range(data.draw(st.integers(0, 3))):
        paths = _paths(d)
        leaves = [p for p in paths if p and not isinstance(_get(d, p), (dict, list))]
        path = data.draw(st.sampled_from(leaves if leaves and data.draw(st.booleans()) else paths))
        new = copy.deepcopy(data.draw(st.one_of(plausible, values)))  # sampled_from reuses objects
        if not path:
            d = new
            continue
        node = _get(d, path[:-1])
        if isinstance(node, dict) and data.draw(st.integers(0, 4)) == 0:
            node[data.draw(keys)] = new                           # add a (maybe unknown) key
        else:
            node[path[-1]] = new
    _check_outcome(d)


def test_missing_required_key_points_at_its_misspelling():
    data = protocol()
    data["run"]["duraton_ms"] = data["run"].pop("duration_ms")
    with pytest.raises(ProtocolError, match=r"run.duration_ms: is required \(found unknown key duraton_ms: a misspelling\?\)"):
        load_dict(data)
