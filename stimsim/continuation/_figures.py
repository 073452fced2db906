"""Figures of bifurcation diagrams: tables in, figures out (no pyplot, no global style changes).

- :func:`diagram_figure`: one panel per model, a recorded variable (default the rate, Hz) of the
  equilibria against the parameter (stable solid, unstable dashed), folds (x) and Hopf points (o),
  and each limit-cycle branch as its minimum and maximum (stable solid, unstable dashed).
- :func:`curves_figure`: fold and Hopf curves in the plane of two parameters (Hopf solid, neutral
  saddles dotted, folds dashed) with the codimension-two points.
"""
from __future__ import annotations

import numpy as np

from ..plots import subplots, themed

_MARKERS = {"LP": ("x", "black"), "H": ("o", "crimson"), "BP": ("s", "gray"), "CP": ("^", "black"),
            "BT": ("D", "navy"), "GH": ("*", "darkorange")}


def _runs(mask):
    """(start, stop) of the runs of equal values in a boolean array."""
    if len(mask) == 0:
        return []
    edges = np.flatnonzero(np.diff(mask.astype(int))) + 1
    bounds = np.concatenate([[0], edges, [len(mask)]])
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def _stability_lines(ax, x, y, stable, color, label=None):
    """Stable parts solid, unstable dashed; consecutive runs share their end points."""
    first = True
    for a, b in _runs(np.asarray(stable)):
        sl = slice(max(a - 1, 0), b) if a > 0 else slice(a, b)
        ax.plot(x[sl], y[sl], "-" if stable[a] else "--", color=color, lw=1.6,
                label=label if first else None)
        first = False


@themed()
def diagram_figure(equilibria, special, cycles=None, variable="rate_hz", population=None, title=None):
    """Bifurcation diagrams side by side, one panel per model.

    Parameters
    ----------
    equilibria, special, cycles : pandas.DataFrame
        ``BifurcationDiagram.equilibria()``, ``.special_points()``, ``.limit_cycles()`` (of one or
        several models, concatenated).
    variable : str
        Recorded column (``rate_hz``, ``v``, ``s_hz``).
    population : str, optional
        Default: the first population.

    Returns
    -------
    matplotlib.figure.Figure
    """
    models = list(dict.fromkeys(equilibria["model"]))
    pop = population or equilibria["population"].iloc[0]
    fig, axes = subplots(1, len(models), figsize=(4.6 * len(models), 3.8), sharey=True)
    par = equilibria["parameter"].iloc[0]
    for ax, model in zip(axes[0], models):
        eq = equilibria[(equilibria.model == model) & (equilibria.population == pop)]
        for b, br in eq.groupby("branch"):
            br = br.sort_values("point")
            _stability_lines(ax, br.parameter_value.to_numpy(), br[variable].to_numpy(),
                             br.stable.to_numpy(), "tab:blue", "equilibria" if b == eq.branch.min() else None)
        if cycles is not None and len(cycles):
            cy = cycles[(cycles.model == model) & (cycles.population == pop)]
            for c, cb in cy.groupby("cycle_branch"):
                cb = cb.sort_values("point")
                for end in ("min", "max"):
                    _stability_lines(ax, cb.parameter_value.to_numpy(), cb[f"{variable}_{end}"].to_numpy(),
                                     cb.stable.to_numpy(), "tab:green",
                                     "limit cycle (min, max)" if (c == cy.cycle_branch.min() and end == "max") else None)
        sp = special[(special.model == model) & (special.population == pop)] if len(special) else special
        for kind, rows in (sp.groupby("kind") if len(sp) else []):
            marker, color = _MARKERS.get(kind, ("o", "black"))
            ax.plot(rows.parameter_value, rows[variable], marker, color=color, ms=7, mfc="none" if kind == "H" else color,
                    mew=1.8, ls="none", label={"H": "Hopf", "LP": "fold"}.get(kind, kind))
        ax.set_title(model.upper() if model.startswith("nmm") else model)
        ax.set_xlabel(par)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    axes[0][0].set_ylabel(f"{variable} ({pop})")
    fig.suptitle(title or "equilibria (stable solid, unstable dashed) and limit cycles")
    fig.tight_layout()
    return fig


@themed()
def curves_figure(curves, special, parameters, title=None, models=None):
    """Fold and Hopf curves in two parameters, one panel per model.

    Parameters
    ----------
    curves, special : pandas.DataFrame
        ``TwoParameterDiagram.to_frame()`` and ``.special_points()`` (concatenated over models).
    parameters : (str, str)
        The two parameter labels (x axis, y axis).
    models : list of str, optional
        One panel per model, also for models without curves (default: the models in ``curves``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    p1, p2 = parameters
    if models is None:
        models = list(dict.fromkeys(curves["model"])) if len(curves) else ["(none)"]
    fig, axes = subplots(1, len(models), figsize=(4.6 * len(models), 3.8), sharey=True)
    for ax, model in zip(axes[0], models):
        cv = curves[curves.model == model] if len(curves) else curves
        labelled = set()
        for c, rows in (cv.groupby("curve") if len(cv) else []):
            rows = rows.sort_values("point")
            kind = rows.kind.iloc[0]
            if kind == "LP":
                ax.plot(rows[p1], rows[p2], "--", color="black", lw=1.4, label=None if "LP" in labelled else "fold")
                labelled.add("LP")
                continue
            hopf = rows.hopf.to_numpy()
            for a, b in _runs(hopf):
                seg = rows.iloc[a:b]
                lab = "Hopf" if hopf[a] else "neutral saddle"
                ax.plot(seg[p1], seg[p2], "-" if hopf[a] else ":", color="crimson",
                        lw=1.6, label=None if lab in labelled else lab)
                labelled.add(lab)
        sp = special[special.model == model] if len(special) else special
        for kind, rows in (sp.groupby("kind") if len(sp) else []):
            marker, color = _MARKERS.get(kind, ("o", "black"))
            ax.plot(rows[p1], rows[p2], marker, color=color, ms=8, ls="none", label=kind)
        if not len(cv):
            ax.text(0.5, 0.5, "no fold or Hopf curve", transform=ax.transAxes, ha="center", va="center")
        ax.set_title(model.upper() if model.startswith("nmm") else model)
        ax.set_xlabel(p1)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    axes[0][0].set_ylabel(p2)
    fig.suptitle(title or "bifurcation curves")
    fig.tight_layout()
    return fig
