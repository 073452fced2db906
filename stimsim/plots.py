"""Figures (seaborn): tables in, figures out, and no change to the user's matplotlib state.

Importing this module selects no backend, and no function changes ``matplotlib.rcParams``:
figures are :class:`matplotlib.figure.Figure` objects made directly (not through pyplot, so they
need no backend, are not registered with pyplot and save headless with ``fig.savefig``), drawn
under a temporary seaborn style (:func:`theme`). Release one with :func:`close`.
"""
from __future__ import annotations

import contextlib
import functools

import matplotlib
import seaborn as sns
from matplotlib.figure import Figure


@contextlib.contextmanager
def theme(style="whitegrid", context="notebook"):
    """Seaborn style and plotting context for the figures made inside, restored on exit.

    Parameters
    ----------
    style : str
        Seaborn axes style (``"whitegrid"``, ``"white"``, ...).
    context : str
        Seaborn plotting context (``"notebook"``, ``"paper"``, ...).

    Notes
    -----
    Everything that reads rcParams (figure, axes, ticks, legends, ``tight_layout``) must happen
    inside the block; ``matplotlib.rc_context`` restores every rcParam (except the backend,
    which is never touched) on exit, also after an exception.
    """
    with matplotlib.rc_context({**sns.axes_style(style), **sns.plotting_context(context)}):
        yield


def themed(style="whitegrid", context="notebook"):
    """Decorator: run a figure function inside :func:`theme` (``style``, ``context``)."""
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with theme(style, context):
                return func(*args, **kwargs)
        return wrapper
    return decorate


def subplots(nrows=1, ncols=1, figsize=None, **kwargs):
    """A new figure and its axes as a 2-D array, made without pyplot.

    Parameters
    ----------
    nrows, ncols : int
    figsize : (float, float), optional
        Inches.
    **kwargs
        Passed to :meth:`matplotlib.figure.Figure.subplots` (``sharex``, ``sharey``, ...).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : ndarray of Axes, shape (nrows, ncols)
    """
    fig = Figure(figsize=figsize)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


@themed("whitegrid")
def timeseries_figure(table, title="", drive_column=None, drive_label=None):
    """Optional drive panel on top, then the rate of each population, one line per model.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy time series with columns ``time_ms``, ``model``, ``population``, ``rate_hz``
        (``SimulationResult.to_frame`` or the protocol time-series table), and ``drive_column``
        when given.
    title : str
        Title of the top panel ("" for none).
    drive_column : str, optional
        Column of the drive (the same for every population and model); drawn in a panel of its
        own above the rates, from the rows of the first model and population.
    drive_label : str, optional
        y label of the drive panel (default: ``drive_column``).

    Returns
    -------
    matplotlib.figure.Figure
        One axis per population, plus one on top when ``drive_column`` is given.
    """
    pops = list(dict.fromkeys(table["population"]))
    n_rows = len(pops) + (drive_column is not None)
    fig, axes = subplots(n_rows, 1, figsize=(9, 2.4 * n_rows), sharex=True)
    axes = axes[:, 0]
    rate_axes = axes
    if drive_column is not None:
        first_model = next(iter(dict.fromkeys(table["model"])))
        first = table[(table["model"] == first_model) & (table["population"] == pops[0])]
        axes[0].plot(first["time_ms"], first[drive_column], color="0.25", linewidth=0.8)
        axes[0].set_ylabel(drive_label or drive_column)
        rate_axes = axes[1:]
    for ax, pop in zip(rate_axes, pops):
        sub = table[table["population"] == pop]
        sns.lineplot(data=sub, x="time_ms", y="rate_hz", hue="model", ax=ax, linewidth=0.9,
                     estimator=None, errorbar=None)
        ax.set_ylabel(f"rate {pop} (Hz)")
    axes[-1].set_xlabel("time (ms)")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return fig


def close(fig):
    """Release a figure: close its pyplot window if it has one, and clear it."""
    if getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)
    fig.clear()
