"""``stimsim run PROTOCOL [--out DIR] [--set key.path=value ...] [--check]``.

Parses arguments, loads and validates the protocol and checks the output folder (nothing is
compiled, run or written on bad input: :class:`~stimsim.protocol.reader.ProtocolError` and
:class:`~stimsim.errors.InputError` are printed by ``stimsim.cli.main`` as one
``stimsim: error: ...`` line with exit code 2), runs it and reports where the files went.
"""
from __future__ import annotations

import sys

from .._cli_common import parse_set
from . import kinds


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

    from .validate import add_subcommand as add_validate      # stimsim validate: network vs NMM2 vs NMM1

    add_validate(sub)

    from ..presets import PRESETS

    p = sub.add_parser(
        "bifurcation", help="bifurcation diagram of a preset: equilibria, folds, Hopf points, limit cycles",
        description="Continue the equilibria of a preset in one parameter under each model (and, with "
                    "--second-parameter, the fold and Hopf curves in two); write equilibria.csv, "
                    "special_points.csv, limit_cycles.csv, figures and metadata.json into "
                    "results/bifurcation-<preset>/<run id>/. It runs the protocol of a "
                    "[study] kind = \"bifurcation\" (protocols/README.md); repeat it with stimsim run "
                    "<folder>/metadata.json.")
    p.add_argument("preset", choices=list(PRESETS))
    p.add_argument("--parameter", default="I",
                   help="I, eta_bar, delta, tau_s, tau_m, J, J[post,pre], tau_s/tau_m, field (V/m); NAME[POP] for one population")
    p.add_argument("--range", nargs="+", required=True, metavar="START STOP",
                   help="parameter range, in the parameter's units (also --range=START,STOP, e.g. --range=-1e3,100)")
    p.add_argument("--models", nargs="+", default=["nmm2", "nmm1"])
    p.add_argument("--no-cycles", action="store_true", help="do not follow the limit cycles")
    p.add_argument("--second-parameter", help="second parameter: fold and Hopf curves in the two")
    p.add_argument("--second-range", nargs="+", metavar="START STOP", help="as --range")
    p.add_argument("--population", help="population drawn in the figures (default: the first)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset parameter (KEY.POP=VALUE for one population)")
    p.add_argument("--out", help="output folder (default results/bifurcation-<preset>/<run id>); must not exist or be empty")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_bifurcation)


def cmd_run(args):
    import json
    from pathlib import Path

    from ..io import check_output_dir
    from .runner import run_protocol
    from .schema import load_protocol

    # --check validates a circuit sweep too (stimsim sweep runs it)
    kinds.check_kind(args.protocol, "run", args.set, also=(kinds.CIRCUIT_SWEEP,) if args.check else ())
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


def parse_range(tokens, option):
    """['-20', '100'] or ['-1e3,100'] -> [-20.0, 100.0]; InputError naming the option otherwise."""
    from ..errors import InputError

    parts = [t for token in tokens for t in token.split(",") if t != ""]
    try:
        values = [float(t) for t in parts]
    except ValueError:
        values = None
    if values is None or len(values) != 2:
        raise InputError(f"{option} needs two numbers START STOP (or {option}=START,STOP), got {' '.join(tokens)!r}")
    return values


def bifurcation_protocol(args):
    """The protocol dict that ``stimsim bifurcation`` runs (a [study] of kind 'bifurcation')."""
    study = {"kind": "bifurcation", "parameter": args.parameter, "range": parse_range(args.range, "--range"),
             "cycles": not args.no_cycles}
    if (args.second_parameter is None) != (args.second_range is None):
        from ..errors import InputError

        raise InputError("--second-parameter and --second-range go together")
    if args.second_parameter is not None:
        study.update(second_parameter=args.second_parameter,
                     second_range=parse_range(args.second_range, "--second-range"))
    if args.population:
        study["output_population"] = args.population
    circuit = {"preset": args.preset}
    overrides = parse_set(args.set)
    if overrides:
        circuit["overrides"] = overrides
    return {"name": f"bifurcation-{args.preset}",
            "description": f"bifurcation diagram of {args.preset} in {args.parameter}",
            "circuit": circuit,
            "run": {"models": list(args.models), "duration_ms": 1000.0, "dt_ms": 0.01},
            "study": study}


def cmd_bifurcation(args):
    from pathlib import Path

    from ..io import check_output_dir
    from .runner import run_protocol
    from .schema import load_dict

    protocol = load_dict(bifurcation_protocol(args))
    if args.out is not None:
        check_output_dir(args.out)
    else:
        check_output_dir(Path("results") / protocol.name, existing_ok=True)
    report = run_protocol(protocol, out_dir=args.out, command="stimsim " + " ".join(sys.argv[1:]),
                          progress=not args.quiet)
    sp = report.study_tables.get("special_points")
    if sp is not None and not args.quiet:
        first = sp.drop_duplicates(["model", "kind", "parameter_value"])
        cols = ["model", "kind", "name", "parameter_value", "frequency_hz", "criticality"]
        print(first[cols].to_string(index=False) if len(first) else "no fold or Hopf point in the range")
    print(f"wrote {report.out_dir}/ ({', '.join(report.metadata['files'])}, metadata.json)")
    return 0
