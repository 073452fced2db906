"""Figures: made from small tables, they leave the user's matplotlib backend and rcParams alone."""
import subprocess
import sys
import types
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


# --- small tables --------------------------------------------------------------------------------
def timeseries_table(pops=("E", "I"), models=("nmm2", "nmm1"), n=50):
    t = np.arange(n) * 0.1
    rows = []
    for model in models:
        for k, pop in enumerate(pops):
            rows.append(pd.DataFrame({"time_ms": t, "model": model, "population": pop,
                                      "rate_hz": 10.0 + k + np.sin(t), "field_v_per_m": np.cos(t)}))
    return pd.concat(rows, ignore_index=True)


def response_table():
    rows = []
    for model in ("nmm2", "nmm1"):
        for J in (4.0, 8.0):
            for method, amps in (("linear", [np.nan]), ("lockin", [0.5, 1.0])):
                for amp in amps:
                    for f in (2.0, 10.0, 40.0):
                        rows.append(dict(model=model, J=J, method=method, freq_hz=f, amplitude_v_per_m=amp,
                                         gain_hz_per_v_per_m=J / (1 + (f / 10.0 - 1) ** 2),
                                         phase_deg=-f))
    return pd.DataFrame(rows)


def resonance_table():
    rows = [dict(model=m, method=meth, J=J, resonance=(m == "nmm2"), peak_freq_hz=5.0 + J,
                 peak_gain_hz_per_v_per_m=J) for m in ("nmm2", "nmm1") for meth in ("linear", "lockin")
            for J in (4.0, 8.0)]
    return pd.DataFrame(rows)


def entrainment_table():
    rows = []
    for model in ("nmm2", "nmm1"):
        for f in (120.0, 125.0, 130.0):
            for amp in (0.0, 1.0, 2.0):
                plv = min(1.0, amp / (1.0 + abs(f - 125.0) / 5.0))
                rows.append(dict(model=model, freq_hz=f, amplitude_unit=amp, plv_1to1=plv, plv_surrogate=0.05,
                                 locked_1to1=plv > 0.9, natural_freq_hz=125.0 if model == "nmm2" else np.nan,
                                 self_oscillating=model == "nmm2"))
    return pd.DataFrame(rows)


def every_figure():
    """(name, figure) for every figure function of stimsim, each from a small table."""
    from stimsim import plots
    from stimsim.analysis import _figures as figures
    from stimsim.protocol.figures import timeseries_figure as protocol_timeseries

    protocol = types.SimpleNamespace(name="demo", circuit=types.SimpleNamespace(name="ping"),
                                     models=("nmm2", "nmm1"), drive_unit="field", drive_label="field_v_per_m")
    yield "timeseries", plots.timeseries_figure(timeseries_table(), title="demo")
    yield "timeseries_drive", plots.timeseries_figure(timeseries_table(), drive_column="field_v_per_m")
    yield "protocol_timeseries", protocol_timeseries(protocol, timeseries_table())
    yield "resonance_curves", figures.resonance_curves(response_table(), ["J"])
    yield "resonance_peaks", figures.resonance_peaks(resonance_table(), ["J"])
    yield "arnold_tongue", figures.arnold_tongue(entrainment_table())
    yield "plv_vs_amplitude", figures.plv_vs_amplitude(entrainment_table())


def _rc_items():
    """rcParams as a plain dict, read without resolving an automatic backend."""
    return dict(dict.items(matplotlib.rcParams))


# --- no global state changed ------------------------------------------------------------------------
def test_figures_leave_backend_and_rcparams_unchanged(tmp_path):
    import matplotlib.pyplot as plt

    from stimsim.io import save_figure
    from stimsim.plots import close

    backend = matplotlib.get_backend()
    before = _rc_items()
    pyplot_figures = plt.get_fignums()
    for name, fig in every_figure():
        save_figure(fig, tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 0
        close(fig)
    after = _rc_items()
    assert matplotlib.get_backend() == backend
    assert {k for k in before if before[k] != after[k]} == set()
    assert plt.get_fignums() == pyplot_figures                  # nothing registered with pyplot


def test_import_and_figures_keep_the_users_backend(tmp_path):
    """A fresh interpreter with a chosen backend: importing stimsim and drawing keeps it."""
    code = f"""
import sys
sys.path.insert(0, {str(ROOT / 'tests')!r})
import matplotlib
matplotlib.use("pdf")
before = dict(dict.items(matplotlib.rcParams))
import stimsim, stimsim.plots, stimsim.analysis._figures, stimsim.protocol.figures
from stimsim.io import save_figure
from test_plots import every_figure
for name, fig in every_figure():
    save_figure(fig, {str(tmp_path)!r} + "/" + name + ".png")
    stimsim.plots.close(fig)
assert matplotlib.get_backend() == "pdf", matplotlib.get_backend()
after = dict(dict.items(matplotlib.rcParams))
changed = sorted(k for k in before if before[k] != after[k])
assert not changed, changed
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert len(list(tmp_path.glob("*.png"))) == 7


def test_rcparams_restored_after_an_error():
    from stimsim.plots import timeseries_figure

    before = _rc_items()
    with pytest.raises(KeyError):
        timeseries_figure(timeseries_table(), drive_column="no_such_column")
    assert _rc_items() == before


# --- the time-series figure ----------------------------------------------------------------------------
def _data_lines(ax):
    """Lines with data (seaborn also adds empty ones as legend handles)."""
    return [line for line in ax.get_lines() if len(line.get_xdata())]


@pytest.mark.parametrize("pops", [("P",), ("E", "I")])
def test_timeseries_axes_with_and_without_drive_panel(pops):
    from stimsim.plots import close, timeseries_figure

    table = timeseries_table(pops)
    fig = timeseries_figure(table, title="t")
    assert len(fig.axes) == len(pops)
    assert [ax.get_ylabel() for ax in fig.axes] == [f"rate {p} (Hz)" for p in pops]
    assert fig.axes[0].get_title() == "t"
    assert len(_data_lines(fig.axes[0])) == 2                   # one line per model
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["nmm2", "nmm1"]
    close(fig)

    fig = timeseries_figure(table, title="t", drive_column="field_v_per_m", drive_label="field (V/m)")
    assert len(fig.axes) == len(pops) + 1
    assert fig.axes[0].get_ylabel() == "field (V/m)" and fig.axes[0].get_title() == "t"
    assert len(_data_lines(fig.axes[0])) == 1                   # the drive, once
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), np.cos(np.arange(50) * 0.1))
    assert all(len(_data_lines(ax)) == 2 for ax in fig.axes[1:])
    assert [ax.get_ylabel() for ax in fig.axes[1:]] == [f"rate {p} (Hz)" for p in pops]
    assert fig.axes[-1].get_xlabel() == "time (ms)"
    close(fig)


def test_protocol_wrapper_draws_the_drive_panel():
    from stimsim.plots import close
    from stimsim.protocol.figures import timeseries_figure

    protocol = types.SimpleNamespace(name="demo", circuit=types.SimpleNamespace(name="ping"), models=("nmm2",),
                                     drive_unit="current", drive_label="drive_model_units")
    table = timeseries_table(models=("nmm2",)).rename(columns={"field_v_per_m": "drive_model_units"})
    fig = timeseries_figure(protocol, table)
    assert len(fig.axes) == 3
    assert fig.axes[0].get_ylabel() == "drive (model units)"
    assert fig.axes[0].get_title() == "demo: ping, nmm2"
    close(fig)


def test_close_works_for_pyplot_figures_too():
    import matplotlib.pyplot as plt

    from stimsim.plots import close

    fig = plt.figure()
    close(fig)
    assert fig.number not in plt.get_fignums()
