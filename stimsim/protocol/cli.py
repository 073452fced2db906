"""``stimsim run PROTOCOL [--out DIR] [--set key.path=value ...] [--check]``.

Parses arguments, loads and validates the protocol and checks the output folder (nothing is
compiled, run or written on bad input: :class:`~stimsim.protocol.schema.ProtocolError` and
:class:`~stimsim.errors.InputError` are printed by ``stimsim.cli.main`` as one
``stimsim: error: ...`` line with exit code 2), runs it and reports where the files went.
"""
from __future__ import annotations

import sys


def add_subcommands(sub):
    """Add ``run`` to the ``stimsim`` argparse subparsers."""
    p = sub.add_parser(
        "run", help="run a stimulation protocol (TOML, or a run's metadata.json to repeat it)",
        description="Run a protocol file (schema: protocols/README.md) and write timeseries.csv, "
                    "summary.csv, timeseries.png and metadata.json into results/<name>/<run-id>/.")
    p.add_argument("protocol", help="protocol .toml file, or metadata.json of an earlier run")
    p.add_argument("--out", help="output folder (default results/<protocol name>/<run id>); must not exist or be empty")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a protocol value before validation, e.g. run.duration_ms=2000 or "
                        "stimulation.waveforms.0.frequency_hz=12 (TOML value syntax)")
    p.add_argument("--check", action="store_true", help="validate and print the resolved protocol; run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress lines (warnings are still printed)")
    p.set_defaults(func=cmd_run)


def cmd_run(args):
    import json
    from pathlib import Path

    from ..io import check_output_dir
    from .runner import run_protocol
    from .schema import load_protocol

    protocol = load_protocol(args.protocol, sets=args.set)
    if args.check:
        print(json.dumps(protocol.resolved, indent=2))
        print(f"protocol {protocol.name!r} is valid", file=sys.stderr)
        return 0
    if args.out is not None:
        check_output_dir(args.out)
    else:                               # results/<name>/<run id>: the parent must be creatable
        check_output_dir(Path("results") / protocol.name, existing_ok=True)

    prepare = None
    if not args.quiet:
        def prepare():
            from .._simulate import prepare_kernels

            # exactly the entry points this run uses: single runs on the calling thread, studies in batches
            parallel = ((False,) if protocol.has_timeseries else ()) + ((True,) if protocol.study is not None else ())
            prepare_kernels(protocol.models, parallel=parallel, integrators=(protocol.integrator,),
                            notify=lambda msg: print(f"stimsim: {msg}", file=sys.stderr))
    report = run_protocol(protocol, out_dir=args.out, command="stimsim " + " ".join(sys.argv[1:]),
                          progress=not args.quiet, prepare=prepare)
    if report.summary is not None and not args.quiet:
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 4):
            print(report.summary.drop(columns=["window_start_ms", "window_stop_ms"]).to_string(index=False))
    print(f"wrote {report.out_dir}/ ({', '.join(report.metadata['files']) or 'metadata.json only'}, metadata.json)")
    return 0
