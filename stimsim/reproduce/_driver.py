"""Driver of ``stimsim reproduce``: the registry of parts and the all-or-nothing result folder.

The comparison of Clusella et al. (Biol. Cybern. 117, 5-19, 2023) is regenerated part by part
(``docs/paper-reproduction.md``):

====  =====================  ===========================  =====================================
key   name                   module                       what
====  =====================  ===========================  =====================================
a     interneurons           ``_interneurons.py``         bifurcation diagram in I, time series
b     oscillation-region     ``_oscillation_region.py``   oscillations in the (tau_s/tau_m, I) plane
c     resonance              ``_resonance.py``            pyramidal resonance against J and eta_bar
d     convergence            ``_convergence.py``          NMM2 -> NMM1 as tau_s/tau_m grows
e     network                ``_network.py``              QIF spiking network beside both models
====  =====================  ===========================  =====================================

**Adding a part**: write ``stimsim/reproduce/<module>.py`` with one function

    run(out_dir, progress, quick=False) -> PartResult          (stimsim.reproduce._common)

that writes its CSV tables and PNG figures into ``out_dir`` (with
:func:`~stimsim.reproduce._common.write_table` / :func:`~stimsim.reproduce._common.write_figure`)
and returns the files, the :class:`~stimsim.reproduce._common.Claim` s it checked and its
parameters; ``quick=True`` runs it at reduced resolution (tests). Then add (or keep) its line in
:data:`PARTS`. A registered part whose module does not exist is reported as "not yet available"
and skipped; a module that exists but fails to import is an error, not skipped.

Output (default ``results/paper/``): one folder per part (``c_resonance/``, ...) with its files and
``claims.csv``; at the top ``claims.csv`` (every part) and ``metadata.json`` (command, versions,
per-part timing, parameters, the units of every column). The folder is written through
:class:`stimsim.io.staged_directory`: a run that fails or is interrupted leaves nothing. A folder
that holds an earlier reproduction is replaced only once the new one is complete; parts not run
this time are carried over from it (their metadata says so). Any other non-empty folder is refused.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import InputError, unknown_name_error
from ._common import CLAIM_COLUMNS, PAPER, Progress, claims_table

#: default result folder
DEFAULT_OUT = Path("results") / "paper"
#: the ``kind`` written into metadata.json; a folder whose metadata says so may be replaced
KIND = "stimsim reproduce"


@dataclass(frozen=True)
class Part:
    """One registered part of the reproduction.

    Attributes
    ----------
    key : str
        One letter, as in issue #9 and ``docs/paper-reproduction.md`` (``'c'``).
    name : str
        Name accepted by ``--parts`` beside the key (``'resonance'``).
    module : str
        Module in ``stimsim/reproduce/`` implementing ``run`` (``'_resonance'``).
    title : str
        One line saying what the part shows.
    """

    key: str
    name: str
    module: str
    title: str

    @property
    def folder(self):
        """Sub-folder of the result folder: ``<key>_<name>`` with '-' as '_' (``c_resonance``)."""
        return f"{self.key}_{self.name.replace('-', '_')}"

    @property
    def qualified_module(self):
        return f"{__package__}.{self.module}"

    @property
    def path(self):
        """Where the module lives, relative to the repository (for messages)."""
        return f"stimsim/reproduce/{self.module}.py"

    def available(self):
        """True if the part's module exists (it is not imported here)."""
        return importlib.util.find_spec(self.qualified_module) is not None

    def load(self):
        """The part's module (imported)."""
        return importlib.import_module(self.qualified_module)


#: the parts, in the order they run and are reported (one line per part)
PARTS = (
    Part("a", "interneurons", "_interneurons",
         "Interneurons: bifurcation diagram in I under NMM2 and NMM1 (Hopf points, limit-cycle branch), time series"),
    Part("b", "oscillation-region", "_oscillation_region",
         "Where interneuron oscillations exist in the (tau_s/tau_m, I) plane, and how the region closes for slow synapses"),
    Part("c", "resonance", "_resonance",
         "Pyramidal resonance: NMM2 peak frequency and amplitude against J and eta_bar (r* beside), NMM1 low-pass"),
    Part("d", "convergence", "_convergence",
         "Convergence of NMM2 to NMM1 as tau_s/tau_m grows: slow eigenvalues, responses to slow and fast inputs"),
    Part("e", "network", "_network",
         "QIF spiking network beside NMM2 and NMM1"),
)


def select_parts(names=None, registry=PARTS):
    """The parts to run, in registry order, and the registered parts skipped as not yet available.

    Parameters
    ----------
    names : sequence of str, optional
        Keys (``'c'``) or names (``'resonance'``); default every registered part.
    registry : sequence of Part

    Returns
    -------
    selected : list of Part
        Parts to run (their modules exist).
    unavailable : list of Part
        Registered parts left out because their module does not exist (only when ``names`` is None).

    Raises
    ------
    stimsim.errors.InputError
        An unknown name, or a part asked for by name whose module does not exist yet.
    """
    lookup = {p.key: p for p in registry} | {p.name: p for p in registry}
    if names is None:
        wanted = list(registry)
    else:
        names = [names] if isinstance(names, str) else list(names)
        if not names:
            raise InputError("--parts needs at least one part; allowed: " + ", ".join(
                f"{p.key} ({p.name})" for p in registry))
        for n in names:
            if n not in lookup:
                raise unknown_name_error("part", n, lookup)
        asked = {lookup[n].key for n in names}
        wanted = [p for p in registry if p.key in asked]
        missing = [p for p in wanted if not p.available()]
        if missing:
            raise InputError("; ".join(f"part {p.key} ({p.name}) is not yet available ({p.path} does not exist)"
                                       for p in missing))
    selected = [p for p in wanted if p.available()]
    unavailable = [p for p in wanted if p not in selected]
    return selected, unavailable


@dataclass
class ReproduceReport:
    """What :func:`reproduce` wrote.

    Attributes
    ----------
    out_dir : Path
        The result folder.
    claims : DataFrame
        Every claim of every part in the folder (columns of ``CLAIM_COLUMNS``).
    metadata : dict
        The content of ``metadata.json``.
    """

    out_dir: Path
    claims: pd.DataFrame
    metadata: dict

    @property
    def all_hold(self):
        return bool(self.claims["holds"].all()) if len(self.claims) else True


def _previous_reproduction(out):
    """metadata of an earlier reproduction in ``out`` (a non-empty folder), or None if it is not one."""
    meta = Path(out) / "metadata.json"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("kind") == KIND else None


def _claim_target(out):
    """(folder to stage into, metadata of the reproduction it replaces or None)."""
    out = Path(out)
    if out.is_dir() and not out.is_symlink() and any(out.iterdir()):
        previous = _previous_reproduction(out)
        if previous is None:
            raise InputError(f"output folder {out} exists, is not empty and holds no earlier stimsim reproduction; "
                             "choose another --out")
        nxt = out.with_name(f".{out.name}.reproduce-next")
        if nxt.is_dir() and _previous_reproduction(nxt) is not None:
            shutil.rmtree(nxt, ignore_errors=True)         # left by a run killed between its commit and its swap
        return nxt, previous
    return out, None


def _swap(new, out):
    """Replace the folder ``out`` by the complete folder ``new`` (old one removed only after)."""
    aside = out.with_name(f".{out.name}.replaced-{os.getpid()}-{os.urandom(3).hex()}")
    os.rename(out, aside)
    try:
        os.rename(new, out)
    except BaseException:
        os.rename(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _command_for(parts, out_dir, quick):
    """The command line that regenerates these parts into ``out_dir``."""
    cmd = ["stimsim", "reproduce", "--out", str(out_dir), "--parts", *[p.key for p in parts]]
    return " ".join(cmd + (["--quick"] if quick else []))


def reproduce(out_dir=DEFAULT_OUT, parts=None, quick=False, progress=True, command=None, stream=None,
              registry=PARTS):
    """Regenerate the tables, figures and claim checks of the paper comparison.

    Parameters
    ----------
    out_dir : path
        Result folder (default ``results/paper``). It must not exist, be empty, or hold an earlier
        reproduction (replaced once this one is complete; parts not run now are carried over).
    parts : sequence of str, optional
        Part keys or names (``['c', 'convergence']``); default every registered part whose module
        exists.
    quick : bool
        Reduced resolution (coarser grids, fewer parameter sets; for tests). Recorded in the metadata.
    progress : bool
        Progress lines and bars on ``stream``.
    command : str, optional
        The command line, recorded in ``metadata.json``.
    stream : file, optional
        Where progress goes (default stderr).
    registry : sequence of Part
        The parts known (default :data:`PARTS`).

    Returns
    -------
    ReproduceReport

    Raises
    ------
    stimsim.errors.InputError
        Before anything runs: unknown part, part not yet available, output folder that cannot be
        written or holds something else.

    Examples
    --------
    >>> import stimsim.reproduce as rp
    >>> report = rp.reproduce("results/paper", parts=["c", "d"])      # doctest: +SKIP
    >>> report.claims[["id", "holds"]]                                # doctest: +SKIP
    """
    from ..io import environment_info, staged_directory, write_csv, write_json

    progress = progress if isinstance(progress, Progress) else Progress(progress, stream)
    selected, unavailable = select_parts(parts, registry)
    if not selected:
        raise InputError("no part of the reproduction is available yet: " + ", ".join(
            f"{p.key} ({p.path})" for p in unavailable))
    out = Path(out_dir)
    target, previous = _claim_target(out)
    t_start = time.perf_counter()
    staging = staged_directory(target)
    with staging as stage:                    # claimed before anything runs; removed on any failure
        entries = {}
        for p in unavailable:
            progress.log(f"stimsim: part {p.key} ({p.name}) not yet available ({p.path} does not exist); skipped")
            entries[p.key] = dict(name=p.name, title=p.title, status="not yet available", module=p.path)
        for p in selected:
            module = p.load()
            progress.log(f"stimsim: part {p.key} ({p.name}): {p.title} ...")
            folder = stage / p.folder
            folder.mkdir()
            t0 = time.perf_counter()
            result = module.run(folder, progress, quick=quick)
            table = claims_table(p.key, result.claims)
            write_csv(table, folder / "claims.csv")
            files = dict(result.files)
            files["claims.csv"] = dict(CLAIM_COLUMNS)
            wall = time.perf_counter() - t0
            entries[p.key] = dict(name=p.name, title=p.title, status="done", folder=p.folder, wall_time_s=wall,
                                  claims_hold=int(table["holds"].sum()), claims_total=len(table),
                                  parameters=result.parameters, files=files)
            progress.log(f"stimsim: part {p.key} done in {wall:.1f} s: {int(table['holds'].sum())} of "
                         f"{len(table)} claims hold")
            for _, row in table[~table["holds"]].iterrows():
                progress.log(f"stimsim: warning: claim {row['id']} does not hold: {row['claim']} "
                             f"(measured: {row['measured']})")
        if previous is not None:              # parts of the earlier reproduction not run this time
            for p in registry:
                old = previous.get("parts", {}).get(p.key, {})
                if p.key in entries and entries[p.key]["status"] == "done" or old.get("status") not in ("done", "carried over"):
                    continue
                src = out / old.get("folder", p.folder)
                if not src.is_dir():
                    continue
                shutil.copytree(src, stage / src.name)
                entries[p.key] = {**old, "status": "carried over",
                                  "carried_over_from": old.get("carried_over_from") or {
                                      "command": previous.get("command"),
                                      "created_utc": previous.get("environment", {}).get("created_utc")}}
                progress.log(f"stimsim: part {p.key} carried over from the earlier reproduction in {out}")
        frames = []
        for p in registry:
            e = entries.get(p.key)
            if e and e["status"] in ("done", "carried over"):
                frames.append(pd.read_csv(stage / e["folder"] / "claims.csv"))
        claims = pd.concat(frames, ignore_index=True) if frames else claims_table("", [])
        claims["holds"] = claims["holds"].astype(bool)
        write_csv(claims, stage / "claims.csv")
        ran = [p for p in registry if entries.get(p.key, {}).get("status") == "done"]
        metadata = {
            "kind": KIND,
            "paper": PAPER,
            "command": command,
            "reproduce_with": _command_for(ran, out, quick),
            "quick": bool(quick),
            "all_claims_hold": bool(claims["holds"].all()) if len(claims) else True,
            "claims_hold": int(claims["holds"].sum()),
            "claims_total": len(claims),
            "parts": {p.key: entries[p.key] for p in registry if p.key in entries},
            "wall_time_s": {"total": time.perf_counter() - t_start,
                            **{k: e["wall_time_s"] for k, e in entries.items() if e["status"] == "done"}},
            "environment": environment_info(),
            "files": {"claims.csv": dict(CLAIM_COLUMNS),
                      "metadata.json": "this file: command, versions, per-part timing, parameters and column units"},
            "docs": "docs/paper-reproduction.md",
        }
        write_json(metadata, stage / "metadata.json")
    final = staging.final_dir
    if previous is not None:
        _swap(final, out)
        final = out
    return ReproduceReport(out_dir=final, claims=claims, metadata=metadata)
