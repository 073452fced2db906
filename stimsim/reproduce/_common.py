"""What every part of ``stimsim reproduce`` shares: claims, results, progress, file writing.

A part is a module with one function ``run(out_dir, progress, quick=False) -> PartResult`` that
writes its tables and figures into ``out_dir`` (its own folder inside the staged result folder,
see :mod:`stimsim.reproduce._driver`) and returns what it wrote and the claims it checked. The
driver writes each part's ``claims.csv`` and the ``metadata.json`` of the whole reproduction.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

#: the publication whose comparison ``stimsim reproduce`` regenerates
PAPER = ("Clusella, P., Köksal-Ersöz, E., Garcia-Ojalvo, J., Ruffini, G. (2023). Comparison between an "
         "exact and a heuristic neural mass model with second-order synapses. Biol. Cybern. 117, 5-19. "
         "doi:10.1007/s00422-022-00952-7")

#: columns of every claims table, with their meaning
CLAIM_COLUMNS = {
    "part": "part of the reproduction (a-e, docs/paper-reproduction.md)",
    "id": "claim id, as in docs/paper-reproduction.md",
    "claim": "the statement checked",
    "source": "published source of the statement",
    "measured": "what this run measured, in words with units",
    "value": "the measured number the verdict rests on (unit in 'unit')",
    "unit": "unit of 'value'",
    "holds": "True if the measurement supports the statement",
}


@dataclass(frozen=True)
class Claim:
    """One statement checked by a run.

    Parameters
    ----------
    id : str
        Short id (``'c2'``), the one used in ``docs/paper-reproduction.md``.
    claim : str
        The statement.
    source : str
        Its published source (author, year; full reference in docs/models.md).
    measured : str
        What was measured, in words, with units.
    value : float
        The number the verdict rests on.
    holds : bool
        Whether the measurement supports the statement.
    unit : str
        Unit of ``value`` ('' for counts and ratios).
    """

    id: str
    claim: str
    source: str
    measured: str
    value: float
    holds: bool
    unit: str = ""


@dataclass
class PartResult:
    """What one part wrote and checked.

    Attributes
    ----------
    files : dict
        File name (relative to the part's folder) -> description: a string for figures, or
        ``{column: unit and meaning}`` for tables.
    claims : list of Claim
    parameters : dict
        The part's settings (grids, presets, drive), written to ``metadata.json`` so that the
        numbers can be regenerated.
    """

    files: dict = field(default_factory=dict)
    claims: list = field(default_factory=list)
    parameters: dict = field(default_factory=dict)


def claims_table(part, claims):
    """Tidy table of ``claims`` (list of :class:`Claim`) with the columns of ``CLAIM_COLUMNS``."""
    rows = [dict(part=part, id=c.id, claim=c.claim, source=c.source, measured=c.measured,
                 value=float(c.value) if c.value is not None else math.nan, unit=c.unit, holds=bool(c.holds))
            for c in claims]
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))


class Progress:
    """Progress display of a reproduction: lines and tqdm bars on ``stream`` (stderr), or nothing.

    Parameters
    ----------
    enabled : bool
        False: silent (``--quiet``).
    stream : file, optional
        Default ``sys.stderr``.

    Notes
    -----
    Parts pass ``bool(progress)`` on to analysis functions that take ``progress=`` and wrap their
    own loops in :meth:`steps`.
    """

    def __init__(self, enabled=True, stream=None):
        self.enabled = bool(enabled)
        self.stream = stream

    def __bool__(self):
        return self.enabled

    def log(self, message):
        """Print one line (when enabled)."""
        if self.enabled:
            print(message, file=self.stream or sys.stderr, flush=True)

    def steps(self, items, desc, total=None):
        """``items`` wrapped in a tqdm bar (plain iteration when disabled)."""
        from tqdm.auto import tqdm

        return tqdm(items, desc=desc, total=total, disable=not self.enabled, leave=False,
                    file=self.stream or sys.stderr)


def write_table(out_dir, name, frame, columns, files):
    """Write ``frame`` as ``out_dir/name`` (CSV, atomically) and record its column units in ``files``.

    Parameters
    ----------
    out_dir : Path
    name : str
        File name (``*.csv``).
    frame : DataFrame
    columns : dict
        Column -> unit and meaning; must describe exactly the columns of ``frame`` (a column
        without a unit is a bug of the part, caught here).
    files : dict
        The part's file record, updated in place.
    """
    from ..io import write_csv

    missing = [c for c in frame.columns if c not in columns]
    if missing:
        raise RuntimeError(f"{name}: columns without a unit description: {missing}")
    write_csv(frame, Path(out_dir) / name)
    files[name] = {c: columns[c] for c in frame.columns}


def write_figure(out_dir, name, fig, description, files):
    """Save a matplotlib Figure as ``out_dir/name`` (PNG, atomically), release it, record it."""
    from ..io import save_figure
    from ..plots import close

    try:
        save_figure(fig, Path(out_dir) / name)
    finally:
        close(fig)
    files[name] = description
