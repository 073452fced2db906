"""``stimsim brain PROTOCOL [--out DIR] [--set key.path=value ...] [--quiet]``: a whole-brain protocol."""
from __future__ import annotations

import sys

from ..protocol import kinds


def add_subcommands(sub):
    """Add ``brain`` to the ``stimsim`` argparse subparsers."""
    p = sub.add_parser(
        "brain", help="run a whole-brain protocol: a montage's regional fields drive a connectome (docs/brain.md)",
        description="Run a whole-brain protocol ([network], [montage]; stimsim/brain/_protocol.py, docs/brain.md) "
                    "with and without the montage and write regional.csv, eeg_spectra.csv, response_map.png, "
                    "eeg_spectra.png and metadata.json into results/<name>/<run id>/.")
    p.add_argument("protocol", help="whole-brain protocol .toml file")
    p.add_argument("--out", help="output folder (default results/<name>/<run id>); must not exist or be empty")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a protocol value before validation, e.g. network.G=0.5")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_brain)


def cmd_brain(args):
    from pathlib import Path

    from ..io import check_output_dir, new_run_id
    from ._protocol import load_brain_protocol, run_brain_protocol

    kinds.check_kind(args.protocol, "brain", args.set)      # a sweep or a circuit protocol: what runs it
    bp = load_brain_protocol(args.protocol, sets=args.set)
    out = Path(args.out) if args.out else Path("results") / bp.name / new_run_id()
    check_output_dir(out)
    regional, _ = run_brain_protocol(bp, out, progress=not args.quiet, command="stimsim " + " ".join(sys.argv[1:]))
    if not args.quiet:
        import pandas as pd

        summary = regional.groupby(["model", "condition", "window"])[[c for c in ("mean_rate_hz", "response_hz",
                                                                         "band_power_hz2") if c in regional]].mean()
        with pd.option_context("display.width", 160, "display.precision", 4):
            print("mean over regions:")
            print(summary.to_string())
    print(f"wrote {out}/ (regional.csv, eeg_spectra.csv, eeg.csv, response_map.png, eeg_spectra.png, eeg.png, "
          "metadata.json)")
    return 0
