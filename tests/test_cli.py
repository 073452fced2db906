"""Command line: presets listing, simulate writing its files, one-line errors with exit code 2."""
import json

import pandas as pd

from stimsim.cli import main


def test_presets_lists_every_preset_with_units(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("interneurons", "pyramidal", "ping", "jansen-rit"):
        assert name in out
    assert "tau_m: ms" in out


def test_simulate_writes_csv_figure_metadata(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", "interneurons", "--duration-ms", "20", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["fixed_points.csv", "metadata.json", "rates.png", "timeseries.csv"]
    table = pd.read_csv(out / "timeseries.csv")
    assert set(table.model) == {"nmm1", "nmm2"}          # the spiking network runs only when asked
    assert table.time_ms.max() == 20.0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["preset"] == "interneurons" and meta["dt_ms"] == 0.01


def test_bad_override_is_one_line_exit_2(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["simulate", "pyramidal", "--set", "tau_m=-3", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tau_m must be > 0" in err[0]
    assert not out.exists()
