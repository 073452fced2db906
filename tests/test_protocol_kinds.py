"""Kinds of protocol file (stimsim.protocol.kinds): every shipped protocol is recognised as its kind,
and every sub-command that takes a protocol file answers the wrong kind with one line naming the
kind and the command that runs it (exit code 2, nothing written)."""
from pathlib import Path

import pytest

from stimsim.brain._protocol import load_brain_protocol
from stimsim.cli import main
from stimsim.protocol import ProtocolError, kinds, load_dict
from stimsim.protocol.kinds import BRAIN, BRAIN_SWEEP, CIRCUIT, CIRCUIT_SWEEP

ROOT = Path(__file__).resolve().parents[1]
#: every shipped protocol file and its kind (a new file must be added here)
SHIPPED = {
    "protocols/tdcs-pyramidal.toml": CIRCUIT,
    "protocols/tacs-10hz-pyramidal.toml": CIRCUIT,
    "protocols/tacs-resonance-pyramidal.toml": CIRCUIT,
    "protocols/trns-pyramidal.toml": CIRCUIT,
    "protocols/ti-pyramidal.toml": CIRCUIT,
    "protocols/tacs-interneurons.toml": CIRCUIT,
    "protocols/study_pyramidal_resonance.toml": CIRCUIT,
    "protocols/study_pyramidal_physiological.toml": CIRCUIT,
    "protocols/study_interneuron_arnold_tongue.toml": CIRCUIT,
    "protocols/bifurcation-interneurons.toml": CIRCUIT,
    "protocols/sweep-pyramidal-resonance-map.toml": CIRCUIT_SWEEP,
    "protocols/brain/tacs-alpha-occipital.toml": BRAIN,
    "protocols/brain/tdcs-f3-f4.toml": BRAIN,
    "protocols/brain/sweep-montage-frequency.toml": BRAIN_SWEEP,
}
#: one shipped file of each kind
EXAMPLE = {CIRCUIT: "protocols/tdcs-pyramidal.toml", CIRCUIT_SWEEP: "protocols/sweep-pyramidal-resonance-map.toml",
           BRAIN: "protocols/brain/tdcs-f3-f4.toml", BRAIN_SWEEP: "protocols/brain/sweep-montage-frequency.toml"}
COMMANDS = ("run", "brain", "sweep", "validate")


@pytest.fixture
def in_repo(monkeypatch):
    """Run from the repository root, so that paths are given as a user types them."""
    monkeypatch.chdir(ROOT)


def test_every_shipped_protocol_is_listed():
    found = {p.relative_to(ROOT).as_posix() for p in (ROOT / "protocols").rglob("*.toml")}
    assert found == set(SHIPPED)


@pytest.mark.parametrize("path", sorted(SHIPPED))
def test_every_shipped_protocol_is_recognised_as_its_kind(in_repo, path):
    kind = kinds.kind_of_file(path)
    assert kind is SHIPPED[path]
    # the command that runs it takes it
    assert kinds.check_kind(path, kind.command) is kind


def test_the_kinds_declare_their_tables():
    assert CIRCUIT.describe() == "a circuit protocol ([circuit] table)"
    assert CIRCUIT_SWEEP.describe() == "a circuit sweep ([circuit] and [sweep] tables)"
    assert BRAIN.describe() == "a whole-brain protocol ([network] table)"
    assert BRAIN_SWEEP.describe() == "a whole-brain sweep ([network] and [sweep] tables)"
    assert [k.command for k in kinds.KINDS] == ["run", "sweep", "brain", "sweep"]
    # the readers accept exactly the declared tables
    from stimsim.brain._protocol_read import TOP_KEYS as BRAIN_KEYS
    from stimsim.protocol.schema import TOP_KEYS

    assert TOP_KEYS == ("name", "description", "circuit", "run", "stimulation", "analysis", "output", "study", "sweep")
    assert BRAIN_KEYS == ("name", "description", "network", "montage", "run", "analysis", "sweep")


@pytest.mark.parametrize("data, kind", [
    ({"circuit": {}, "run": {}}, CIRCUIT),
    ({"circuit": {}, "study": {}}, CIRCUIT),
    ({"circuit": {}, "sweep": {}}, CIRCUIT_SWEEP),
    ({"network": {}, "montage": {}}, BRAIN),
    ({"network": "not a table"}, BRAIN),              # its reader then says what is wrong with it
    ({"network": {}, "sweep": {}}, BRAIN_SWEEP),
    ({}, None),                                        # no identifying table
    ({"run": {}, "sweep": {}}, None),
    ({"circuit": {}, "network": {}}, None),            # both: its command's reader names the stray table
    ([1, 2], None),
])
def test_kind_of_a_table(data, kind):
    assert kinds.kind_of(data) is kind


WRONG = [(command, kind) for command in COMMANDS for kind in EXAMPLE if kind not in kinds.COMMANDS[command]]


@pytest.mark.parametrize("command, kind", WRONG, ids=[f"{c}-{k.name}" for c, k in WRONG])
def test_wrong_kind_is_one_line_naming_the_kind_and_its_command(in_repo, tmp_path, capsys, command, kind):
    path = EXAMPLE[kind]
    out = tmp_path / "out"
    assert main([command, path, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"stimsim: error: {path} is {kind.describe()}: run it with 'stimsim {kind.command} {path}'"]
    assert not out.exists()


def test_stimsim_run_of_a_whole_brain_protocol(in_repo, tmp_path, capsys):
    assert main(["run", "protocols/brain/tdcs-f3-f4.toml", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == (
        "stimsim: error: protocols/brain/tdcs-f3-f4.toml is a whole-brain protocol ([network] table): run it with "
        "'stimsim brain protocols/brain/tdcs-f3-f4.toml'")


def test_set_overrides_count_in_the_kind(in_repo, tmp_path, capsys):
    # --set can add a table: a circuit protocol with a [sweep] is a sweep
    path = EXAMPLE[CIRCUIT]
    assert main(["run", path, "--set", "sweep.kind='linear'", "--out", str(tmp_path / "o")]) == 2
    assert "is a circuit sweep ([circuit] and [sweep] tables): run it with 'stimsim sweep" in capsys.readouterr().err


def test_stimsim_run_check_validates_a_circuit_sweep(in_repo, capsys):
    assert main(["run", EXAMPLE[CIRCUIT_SWEEP], "--check"]) == 0
    assert "is valid" in capsys.readouterr().err


def test_the_loaders_refuse_the_other_family(in_repo):
    import tomllib

    brain = tomllib.loads((ROOT / EXAMPLE[BRAIN]).read_text())
    with pytest.raises(ProtocolError, match=r"^this is a whole-brain protocol \(\[network\] table\): run its file "
                                            r"with 'stimsim brain FILE'$"):
        load_dict(brain)
    with pytest.raises(ProtocolError, match=r"^x\.toml is a whole-brain sweep .*'stimsim sweep x\.toml'$"):
        load_dict(dict(brain, sweep={}), source="x.toml")
    with pytest.raises(ProtocolError, match=r"^protocols/tdcs-pyramidal\.toml is a circuit protocol \(\[circuit\] "
                                            r"table\): run it with 'stimsim run protocols/tdcs-pyramidal\.toml'$"):
        load_brain_protocol(EXAMPLE[CIRCUIT])


@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_of_no_kind_is_reported_by_the_command_reader(tmp_path, capsys, command):
    missing = tmp_path / "missing.toml"
    assert main([command, str(missing), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read protocol file" in err[0]
    broken = tmp_path / "broken.toml"
    broken.write_text("[run\n")
    assert main([command, str(broken), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "malformed TOML" in err[0]
