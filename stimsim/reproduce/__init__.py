"""``stimsim reproduce``: regenerate the comparison of Clusella et al. (Biol. Cybern. 117, 5-19, 2023).

Each part (``docs/paper-reproduction.md``) writes its CSV tables, figures and a claims table
(claim, source, measured value, holds) into its own folder of the result folder (default
``results/paper/``), all or nothing; ``metadata.json`` records the command, versions, per-part
timing and parameters. The registry of parts and how to add one: :mod:`stimsim.reproduce._driver`.

>>> import stimsim.reproduce as rp
>>> [p.key for p in rp.PARTS]
['a', 'b', 'c', 'd', 'e']
"""
from ._common import CLAIM_COLUMNS, PAPER, Claim, PartResult, Progress, claims_table, write_figure, write_table
from ._driver import DEFAULT_OUT, PARTS, Part, ReproduceReport, reproduce, select_parts

__all__ = ["CLAIM_COLUMNS", "PAPER", "Claim", "PartResult", "Progress", "claims_table", "write_figure",
           "write_table", "DEFAULT_OUT", "PARTS", "Part", "ReproduceReport", "reproduce", "select_parts"]
