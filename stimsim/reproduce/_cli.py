"""``stimsim reproduce [--out DIR] [--parts c d ...] [--quick] [--quiet]``.

Parses the arguments, checks the parts and the output folder before anything runs (bad input is
one ``stimsim: error: ...`` line with exit code 2, printed by ``stimsim.cli.main``), runs
:func:`stimsim.reproduce.reproduce` and prints the claims table.
"""
from __future__ import annotations

import sys


def add_subcommands(sub):
    """Add ``reproduce`` to the ``stimsim`` argparse subparsers."""
    from ._driver import DEFAULT_OUT, PARTS

    listing = "; ".join(f"{p.key} = {p.name}" for p in PARTS)
    p = sub.add_parser(
        "reproduce", help="regenerate the NMM2-vs-NMM1 comparison of Clusella et al. (2023) into results/paper/",
        description="Regenerate the CSV tables, figures and claim checks of the comparison in Clusella et al., "
                    "Biol. Cybern. 117, 5-19 (2023); each part's claims are documented in docs/paper-reproduction.md. "
                    f"Parts: {listing}. Parts whose module does not exist yet are reported and skipped.")
    p.add_argument("--out", default=str(DEFAULT_OUT),
                   help=f"result folder (default {DEFAULT_OUT}); must not exist, be empty, or hold an earlier "
                        "reproduction, which is replaced once this one is complete")
    p.add_argument("--parts", nargs="+", metavar="PART",
                   help="parts to run, by key or name (default: every available part)")
    p.add_argument("--quick", action="store_true",
                   help="reduced resolution (coarser grids, fewer parameter sets): a fast check, not the reproduction")
    p.add_argument("--quiet", action="store_true", help="no progress lines (warnings are still printed)")
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args):
    """Run ``stimsim reproduce``; return the exit code (0, also when a claim does not hold: it is reported)."""
    import pandas as pd

    from ._common import Progress
    from ._driver import reproduce

    report = reproduce(args.out, parts=args.parts, quick=args.quick, progress=Progress(not args.quiet),
                       command="stimsim " + " ".join(sys.argv[1:]))
    claims = report.claims
    with pd.option_context("display.width", 200, "display.max_colwidth", 90):
        print(claims[["part", "id", "holds", "claim"]].to_string(index=False))
    n_ok = int(claims["holds"].sum())
    print(f"{n_ok} of {len(claims)} claims hold")
    if n_ok < len(claims):
        for _, row in claims[~claims["holds"]].iterrows():
            print(f"stimsim: warning: claim {row['id']} does not hold (measured: {row['measured']})", file=sys.stderr)
    print(f"wrote {report.out_dir}/ (claims.csv, metadata.json, "
          + ", ".join(e["folder"] + "/" for e in report.metadata["parts"].values() if "folder" in e) + ")")
    return 0
