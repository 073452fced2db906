"""Pieces every ``stimsim`` sub-command shares: exit codes and ``--set KEY=VALUE`` parsing.

It sits below :mod:`stimsim.cli` and the sub-command modules (``stimsim.protocol.cli``,
``stimsim.sweep._cli``, ``stimsim.brain._cli``, ...) so that they import it and not each other.
"""
from __future__ import annotations

import json
import signal

from .errors import InputError

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM


def parse_set(items):
    """['J=10', 'eta_bar.E=2'] -> {'J': 10.0, 'eta_bar': {'E': 2.0}} (values parsed as JSON when possible)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(value, dict) and not value:
            raise InputError(f"--set {item}: an empty table would change nothing; give values or leave it out")
        if "." in key:
            param, pop = key.split(".", 1)
            out.setdefault(param, {})[pop] = value
        else:
            out[key] = value
    return out
