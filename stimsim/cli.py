"""Command line: ``stimsim presets | simulate | fixed-points | compile | run | bifurcation | sweep | brain | reproduce``.

The CLI parses arguments, calls the Python API and writes files; it knows no equations.

Exit codes and messages:

* 2, one line ``stimsim: error: ...``: bad input (:class:`~stimsim.errors.InputError`, e.g. a
  parameter, a protocol file, an output folder that cannot be written), found before anything is
  compiled or run; or a simulation that diverged (:class:`~stimsim.errors.SimulationDiverged`).
* 1, a traceback and ``stimsim: internal error: ...``: anything else (a bug in stimsim).
* 1, one line ``stimsim: error: ...``: the operating system refused a file operation while writing.
* 130 (Ctrl-C) or 143 (SIGTERM): interrupted; the partial results are removed.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

# exit codes and --set parsing live below every sub-command module, which import them from there
from ._cli_common import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED, parse_set
from .errors import InputError, SimulationDiverged, Terminated


@contextlib.contextmanager
def user_input():
    """Treat the ValueErrors (and TypeErrors) of the enclosed validation code as bad user input.

    Only code that checks what the user gave runs inside (parsing, building the circuit, argument
    checks, the fixed points the run needs); numpy floating-point warnings are silenced there
    (a problem becomes one clear message, not a warning followed by it).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            import numpy as np

            with np.errstate(all="ignore"):
                yield
    except InputError:
        raise
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc)) from None


@contextlib.contextmanager
def sigterm_as_interrupt():
    """While active (main thread only), SIGTERM raises :class:`Terminated` instead of killing at once.

    The exception unwinds like Ctrl-C, so staging folders are removed. A second SIGTERM during that
    clean-up is ignored; the previous handler is restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_presets(args):
    from .circuit import POPULATION_PARAMETERS
    from .presets import PRESETS, preset, preset_parameters

    for name in PRESETS:
        doc = (PRESETS[name].__doc__ or "").strip().splitlines()[0]
        print(f"{name}: {doc}")
        own = preset_parameters(name)
        if own:
            print("  preset arguments: " + ", ".join(f"{k}={v}" for k, v in own.items()))
        c = preset(name)
        print(c.describe().drop(columns=[k for k in ("rmax_hz", "slope_per_mv", "threshold_mv") if not any(
            p.transfer == "sigmoid" for p in c.populations)]).to_string(index=False))
        print()
    print("units: " + "; ".join(f"{k}: {v}" for k, v in POPULATION_PARAMETERS.items()))
    print("J[post, pre]: QIF units (x tau_m) per kHz of synaptic activation; mV per kHz for sigmoid targets")
    return 0


def cmd_fixed_points(args):
    import pandas as pd

    from . import fixed_points, preset

    with user_input():                   # "no fixed point found ..." is about the parameters given
        table = fixed_points(preset(args.preset, **parse_set(args.set)))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.drop(columns="eigenvalues").to_string(index=False))
    return 0


def cmd_simulate(args):
    import pandas as pd

    from . import fixed_points, models as _models, preset, simulate
    from ._simulate import check_output_size, check_run, checked_initial_state, prepare_kernels
    from .io import environment_info, new_run_id, save_figure, staged_directory, write_csv, write_json
    from .plots import close, timeseries_figure

    # 1. everything the user gave, checked before anything is compiled, run or written
    with user_input():
        overrides = parse_set(args.set)
        circuit = preset(args.preset, **overrides)
        models = []
        for name in args.models:
            reason = _models.get(name).supports(circuit)
            if reason:
                print(f"note: {name} skipped for {args.preset}: {reason}")
            else:
                models.append(name)
        if not models:
            raise InputError(f"none of the models {args.models} can describe preset {args.preset!r}")
        for name in models:
            spec = check_run([circuit], name, args.duration_ms, args.dt_ms, args.record_every, args.integrator)
            check_output_size(spec, circuit.n_populations, 1)
            checked_initial_state(spec.model, circuit, None)     # the state simulate starts from: finite?
        fp = fixed_points(circuit)          # written with the results; "no fixed point found" is bad input
    out = Path(args.out) if args.out else Path("results") / "simulate" / f"{args.preset}-{new_run_id()}"

    # 2. claim the output folder (InputError if it cannot be written), then compute and write into it
    staging = staged_directory(out)
    with staging as stage:
        prepare_kernels(models, integrators=(args.integrator,),
                        notify=lambda msg: print(f"stimsim: {msg}", file=sys.stderr))
        frames, walls = [], {}
        for model in models:
            res = simulate(circuit, model=model, duration_ms=args.duration_ms, dt_ms=args.dt_ms,
                           record_every=args.record_every, integrator=args.integrator)
            frames.append(res.to_frame())
            walls[model] = res.wall_time_s
        table = pd.concat(frames, ignore_index=True)
        write_csv(table, stage / "timeseries.csv")
        write_csv(fp.assign(eigenvalues=fp["eigenvalues"].map(lambda e: " ".join(f"{z:.6g}" for z in e))),
                  stage / "fixed_points.csv")
        fig = timeseries_figure(table, title=f"{args.preset}: " + " vs ".join(models))
        save_figure(fig, stage / "rates.png")
        close(fig)
        write_json({
            "command": "stimsim " + " ".join(sys.argv[1:]),
            "preset": args.preset, "overrides": overrides, "models": models,
            "duration_ms": args.duration_ms, "dt_ms": args.dt_ms, "record_every": args.record_every,
            "integrator": args.integrator, "kernel_wall_time_s": walls,
            "circuit": circuit.describe().to_dict(orient="records"),
            "environment": environment_info(),
            "columns": {"time_ms": "ms", "rate_hz": "Hz", "v": "QIF units (mV for sigmoid populations)",
                        "s_hz": "Hz (synaptic activation)", "z_hz": "Hz (tau_s ds/dt)"},
        }, stage / "metadata.json")
    out = staging.final_dir
    if staging.redirected:
        print(f"stimsim: warning: output folder {staging.requested} was filled by another program while this "
              f"run was going; this run's results are in {out}", file=sys.stderr)
    summary = table.groupby(["model", "population"])["rate_hz"].agg(["mean", "min", "max"])
    print(summary.to_string())
    print(f"wrote {out}/ (timeseries.csv, fixed_points.csv, rates.png, metadata.json)")
    return 0


def cmd_compile(args):
    from ._simulate import warmup

    t0 = time.perf_counter()
    times = warmup(integrators=("rk4", "heun"))
    for (model, entry, integrator), sec in times.items():
        print(f"{model:5s} {entry:8s} {integrator:5s} first call (compile or cache load): {sec:7.2f} s")
    print(f"total {time.perf_counter() - t0:.2f} s")
    return 0


def build_parser():
    from .models import available
    from .models import get as get_model
    from .presets import PRESETS

    parser = argparse.ArgumentParser(prog="stimsim", description=(
        "Response of exact (NMM2) and heuristic (NMM1) QIF neural mass models to weak electric "
        "fields. Time in ms, rates in Hz, fields in V/m."))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("presets", help="list presets with their parameters and units")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("fixed-points", help="fixed points and their stability under NMM2 and NMM1")
    p.add_argument("preset", choices=list(PRESETS))
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (KEY.POP=VALUE for one population)")
    p.set_defaults(func=cmd_fixed_points)

    p = sub.add_parser("simulate", help="simulate a preset under NMM2 and NMM1; write CSV, figure, metadata")
    p.add_argument("preset", choices=list(PRESETS))
    mean_field = [m for m in available() if not get_model(m).ground_truth]      # the network only when asked
    p.add_argument("--models", nargs="+", default=mean_field, choices=list(available()),
                   help=f"models to run (default: {' '.join(mean_field)}; add network for the spiking network)")
    p.add_argument("--duration-ms", type=float, default=500.0)
    p.add_argument("--dt-ms", type=float, default=0.01)
    p.add_argument("--record-every", type=int, default=10)
    p.add_argument("--integrator", default="rk4", choices=["rk4", "heun"])
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (KEY.POP=VALUE for one population)")
    p.add_argument("--out", help="output folder (default results/simulate/<preset>-<run id>)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("compile", help="compile the kernels (or load numba's cache) and report the time")
    p.set_defaults(func=cmd_compile)

    from .protocol import cli as protocol_cli         # a broken subpackage is an internal error, not hidden

    protocol_cli.add_subcommands(sub)
    from .reproduce import _cli as reproduce_cli     # stimsim reproduce (docs/paper-reproduction.md)

    reproduce_cli.add_subcommands(sub)
    from .sweep import _cli as sweep_cli             # stimsim sweep (protocols/README.md, docs/sweeps.md)

    sweep_cli.add_subcommands(sub)
    from .brain import _cli as brain_cli             # stimsim brain (docs/brain.md)

    brain_cli.add_subcommands(sub)
    return parser


def main(argv=None):
    """Run the command line; return the exit code (see the module docstring)."""
    try:
        parser = build_parser()          # imports the numerical layers (numba, pandas): 1-2 s
    except KeyboardInterrupt:
        print("stimsim: interrupted while starting; nothing was run", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:                    # noqa: BLE001 - a broken install is reported, not hidden
        return _internal_error()
    args = parser.parse_args(argv)
    with sigterm_as_interrupt():
        try:
            return args.func(args)
        except InputError as exc:
            print(f"stimsim: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except SimulationDiverged as exc:
            print(f"stimsim: error: simulation diverged: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except Terminated:
            print("stimsim: terminated (SIGTERM); no partial results were kept", file=sys.stderr)
            return EXIT_TERMINATED
        except KeyboardInterrupt:
            print("stimsim: interrupted; no partial results were kept", file=sys.stderr)
            return EXIT_INTERRUPTED
        except OSError as exc:
            print(f"stimsim: error: {exc}; no partial results were kept", file=sys.stderr)
            return EXIT_INTERNAL
        except Exception:                # noqa: BLE001
            return _internal_error()


def _internal_error():
    """Print the traceback of the exception being handled, labelled as a bug; return exit code 1."""
    exc = sys.exc_info()[1]
    traceback.print_exc()
    print(f"stimsim: internal error: {type(exc).__name__}: {exc} (a bug in stimsim, not in your input; "
          "please report it with the command line and the traceback above)", file=sys.stderr)
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
