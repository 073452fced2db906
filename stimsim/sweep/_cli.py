"""``stimsim sweep PROTOCOL [--out DIR] [--resume] [--executor ...] [--scheduler ADDR | --workers N]``.

Parses arguments, loads and validates the protocol (its ``[sweep]`` table), the executor flags,
the scheduler address (parsed, then connected to with a short timeout) and the output folder
(writable, free or holding this sweep), then runs the sweep (:func:`stimsim.sweep.run_sweep`). Bad
input is one ``stimsim: error:`` line with exit code 2 before any model runs, and leaves no
``sweep.json`` or ``parts/`` behind; an interrupted sweep keeps its finished chunks; a part that
fails verification on ``--resume`` is one ``stimsim: warning:`` line and is computed again.
"""
from __future__ import annotations

import sys

from .._cli_common import EXIT_INTERRUPTED, EXIT_TERMINATED
from ..protocol import kinds


def add_subcommands(sub):
    """Add ``sweep`` to the ``stimsim`` argparse subparsers."""
    p = sub.add_parser(
        "sweep", help="run the [sweep] of a protocol: many points, chunks on disk as they finish, resumable",
        description="Run the [sweep] table of a protocol file (protocols/README.md): every point of its design "
                    "under each model, in chunks written to <out>/parts/ as they finish, then "
                    "<out>/results.csv (one row per design point and model) and metadata.json. --resume verifies the "
                    "finished parts and finishes an interrupted sweep; --workers N runs it on a local Dask cluster, --scheduler ADDR on an existing one.")
    p.add_argument("protocol", help="protocol .toml file with a [sweep] table")
    p.add_argument("--out", help="sweep folder (default results/<protocol name>/sweep)")
    p.add_argument("--resume", action="store_true", help="finish the sweep in --out (the same protocol and settings)")
    p.add_argument("--executor", default=None, choices=["local", "serial", "dask"],
                   help="local: batched kernels on every core (default; dask with --workers or --scheduler); "
                        "serial: one thread; dask: a cluster")
    p.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--workers", type=int, help="start a local Dask cluster of N worker processes")
    p.add_argument("--chunk-size", type=int, help="points per chunk (default: sized by memory; results do not depend on it)")
    p.add_argument("--parquet", action="store_true", help="also write results.parquet (needs pyarrow)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a protocol value before validation (as for stimsim run)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args):
    from pathlib import Path

    from ..brain._protocol import load_brain_protocol
    from ..errors import InputError
    from ..protocol.schema import load_protocol
    from ._executors import check_executor
    from ._run import run_sweep

    # a protocol without [sweep] is refused here, naming the command that runs it
    kind = kinds.check_kind(args.protocol, "sweep", args.set)
    load = load_brain_protocol if kind is kinds.BRAIN_SWEEP else load_protocol
    protocol = load(args.protocol, sets=args.set)
    if protocol.sweep is None:              # a file of no recognised kind that still loads
        raise InputError(f"{args.protocol} has no [sweep] table (see protocols/README.md)")
    check_executor(args.executor, args.scheduler, args.workers)
    if args.chunk_size is not None and args.chunk_size < 1:
        raise InputError(f"--chunk-size must be an integer >= 1 (points per chunk), got {args.chunk_size}")
    task, design, chunk = protocol.sweep
    out = Path(args.out) if args.out else Path("results") / protocol.name / "sweep"
    try:
        report = run_sweep(task, design, out, executor=args.executor, scheduler=args.scheduler, workers=args.workers,
                           resume=args.resume, chunk_size=args.chunk_size if args.chunk_size is not None else chunk,
                           parquet=args.parquet, progress=not args.quiet, protocol=protocol.resolved,
                           command="stimsim " + " ".join(sys.argv[1:]), max_rows_in_memory=0, warn=_warn)
    except KeyboardInterrupt as exc:
        from ..errors import Terminated

        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        code = EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
        if not (out / "sweep.json").is_file():
            print(f"stimsim: {how} before any chunk finished; nothing was kept", file=sys.stderr)
            return code
        parts = len(list((out / "parts").glob("part-*.csv"))) if (out / "parts").is_dir() else 0
        print(f"stimsim: {how}; the {parts} finished chunk(s) are kept in {out}/parts; finish with "
              f"stimsim sweep {args.protocol} --out {out} --resume", file=sys.stderr)
        return code
    meta = report.metadata
    counts = ", ".join(f"{v} {k}" for k, v in meta["status_counts"].items())
    print(f"{meta['points']} points x {len(task.models)} models: {counts}; computed {meta['computed_this_run']} "
          f"this run in {meta['wall_time_s']:.1f} s")
    print(f"wrote {report.out_dir}/results.csv (and metadata.json, parts/)")
    return 0


def _warn(message):
    """One ``stimsim: warning:`` line on stderr."""
    print(f"stimsim: warning: {message}", file=sys.stderr)
