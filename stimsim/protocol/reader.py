"""The one reader of protocol files: every protocol kind reads its tables through it.

Circuit protocols (:mod:`stimsim.protocol.schema`), their ``[study]`` (:mod:`stimsim.protocol.study`)
and ``[sweep]`` (:mod:`stimsim.protocol.sweep_table`) tables, and whole-brain protocols and sweeps
(``stimsim.brain._protocol_read``, ``stimsim.brain._sweep``) share:

* :func:`read_file`: a protocol file (TOML, or a resolved JSON / a run's ``metadata.json``) as a dict;
* :func:`apply_sets`: ``--set key.path=value`` overrides;
* :class:`Reader`: typed access to one table with the key path in every message, did-you-mean
  hints (``stimsim.errors.closest``) and units; :func:`grid` for value grids;
* :class:`ProtocolError` and the message helpers :func:`key_text`, :func:`show`, :func:`type_name`.

Every problem is one line ``<file>: <key path>: <problem>``. This module imports nothing of the
protocol layer, so every reader can import it.
"""
from __future__ import annotations

import copy
import difflib
import json
import math
import re
import tomllib
from pathlib import Path

import numpy as np

from ..errors import InputError, closest

#: a value grid (a list or a range) holds at most this many values
MAX_GRID_VALUES = 200_000


class ProtocolError(InputError):
    """A protocol that cannot run; the message names the file, the key path and the problem.

    An :class:`~stimsim.errors.InputError` (a ``ValueError``): the command line prints it as one
    line with exit code 2.
    """


# --- files -------------------------------------------------------------------------------------------
def read_file(path):
    """The table of a protocol file: TOML, or JSON (a resolved protocol, or a run's ``metadata.json``,
    whose ``protocol`` is returned). UTF-8, a byte-order mark allowed.

    Raises
    ------
    ProtocolError
        ``<file>: cannot read protocol file: ...``, ``malformed TOML``, ``malformed JSON`` or
        ``not a UTF-8 text file``.
    """
    path = Path(path)
    label = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProtocolError(f"{label}: cannot read protocol file: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(raw.decode("utf-8-sig"))      # a byte-order mark is allowed
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(f"{label}: malformed JSON: {exc}") from None
        if isinstance(data, dict) and "protocol" in data and "environment" in data:
            data = data["protocol"]                     # a run's metadata.json: re-run it
        return data
    try:
        return tomllib.loads(raw.decode("utf-8-sig"))   # a byte-order mark is allowed
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{label}: not a UTF-8 text file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{label}: malformed TOML: {exc}") from None


def apply_sets(data, sets, label="protocol"):
    """A copy of ``data`` with ``key.path=value`` assignments applied (``--set``).

    The value is parsed as a TOML value, else taken as a string; list items are addressed as
    ``waveforms.0`` or ``waveforms[0]``.
    """
    data = copy.deepcopy(data)
    if not isinstance(data, dict):
        raise ProtocolError(f"{label}: <top level>: must be a table, got {type_name(data)}")
    for item in sets:
        if not isinstance(item, str) or "=" not in item:
            raise ProtocolError(f"{label}: --set expects key.path=value, got {item!r}")
        key, raw = item.split("=", 1)
        parts = [p for p in re.split(r"\.|\[(\d+)\]", key.strip()) if p]
        if not parts:
            raise ProtocolError(f"{label}: --set expects key.path=value, got {item!r}")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            here = ".".join(parts[:depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ProtocolError(f"{label}: --set {key}: {here} is not an index of a list of {len(node)}")
                part = int(part)
            elif not isinstance(node, dict):
                raise ProtocolError(f"{label}: --set {key}: {'.'.join(parts[:depth])} is not a table")
            if last:
                node[part] = value
            else:
                if isinstance(node, dict) and part not in node:
                    node[part] = {}
                node = node[part]
    return data


# --- tables --------------------------------------------------------------------------------------------
class Reader:
    """Typed access to one table with key paths in every message, and an unknown-key check.

    Parameters
    ----------
    data : object
        The table (a dict; anything else fails with "must be a table").
    path : str
        Key path of the table in the file ("" for the top level).
    source : str
        File name (or "protocol") starting every message.
    """

    def __init__(self, data, path, source):
        self.source = source
        self.path = path
        if not isinstance(data, dict):
            self.fail(f"must be a table, got {type_name(data)}")
        self.data = data
        self.used = set()

    # messages ---------------------------------------------------------------------------------
    def where(self, key=None):
        if key is None:
            return self.path or "<top level>"
        key = str(key)
        key = key if key.isprintable() else json.dumps(key)
        return f"{self.path}.{key}" if self.path else key

    def fail(self, problem, key=None):
        raise ProtocolError(f"{self.source}: {self.where(key)}: {problem}")

    def child(self, key, required=False):
        """A Reader for a sub-table (an empty one when absent and not required)."""
        self.used.add(key)
        if key not in self.data:
            if required:
                self.fail(f"missing table [{self.where(key)}]")
            return Reader({}, self.where(key), self.source)
        return Reader(self.data[key], self.where(key), self.source)

    def has(self, key):
        return key in self.data

    def misspelling_hint(self, key):
        """' (found unknown key X: a misspelling?)' when a key of this table looks like ``key``."""
        stray = [k for k in self.data if isinstance(k, str) and k not in self.used]
        match = difflib.get_close_matches(str(key), stray, n=1, cutoff=0.6)
        return f" (found unknown key {key_text(match[0])}: a misspelling?)" if match else ""

    # typed getters ------------------------------------------------------------------------------
    def get(self, key, default=..., required=False):
        self.used.add(key)
        if key not in self.data:
            if required or default is ...:
                self.fail("is required" + self.misspelling_hint(key), key)
            return default
        return self.data[key]

    def number(self, key, default=..., minimum=None, exclusive=False, unit="", maximum=None):
        if key not in self.data and default is None:
            self.used.add(key)
            return None                                 # optional and absent (null is not absent)
        return self.as_number(self.get(key, default), key, minimum, exclusive, unit, maximum)

    def as_number(self, value, key, minimum=None, exclusive=False, unit="", maximum=None):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"must be a number{(' in ' + unit) if unit else ''}, got {show(value)}", key)
        try:
            value = float(value)
        except OverflowError:
            self.fail(f"{value} is out of range", key)
        if not math.isfinite(value):
            self.fail(f"must be finite, got {value}", key)
        if minimum is not None and (value < minimum or (exclusive and value == minimum)):
            self.fail(f"must be {'>' if exclusive else '>='} {minimum:g}{(' ' + unit) if unit else ''}, got {value:g}", key)
        if maximum is not None and value > maximum:
            self.fail(f"must be <= {maximum:g}{(' ' + unit) if unit else ''}, got {value:g}", key)
        return value

    def integer(self, key, default=..., minimum=None):
        return self.as_integer(self.get(key, default), key, minimum)

    def as_integer(self, value, key, minimum=None):
        if (isinstance(value, bool) or not isinstance(value, int)
                or (minimum is not None and value < minimum)):
            self.fail(f"must be an integer{'' if minimum is None else f' >= {minimum}'}, got {show(value)}", key)
        return value

    def string(self, key, default=..., choices=None):
        value = self.get(key, default)
        return self.as_string(value, key, choices)

    def as_string(self, value, key, choices=None):
        if not isinstance(value, str):
            self.fail(f"must be a string, got {show(value)}", key)
        if choices is not None and value not in choices:
            self.fail(f"{value!r} is not allowed{closest(value, choices)}; allowed: {', '.join(choices)}", key)
        return value

    def boolean(self, key, default=...):
        value = self.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"must be true or false, got {show(value)}", key)
        return value

    def string_list(self, key, default=..., choices=None, nonempty=True):
        value = self.get(key, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.fail(f"must be a list of strings, got {show(value)}", key)
        if nonempty and not value:
            self.fail("must not be empty", key)
        out = []
        for i, item in enumerate(value):
            out.append(self.as_string(item, f"{key}[{i}]", choices))
        if len(set(out)) != len(out):
            self.fail(f"has repeated entries {out}", key)
        return out

    # unknown keys ---------------------------------------------------------------------------------
    def finish(self, allowed=None):
        """Unknown keys are errors naming the closest valid key (``<path>: unknown key 'k' ...``)."""
        allowed = list(allowed) if allowed is not None else sorted(self.used)
        for key in self.data:
            if key not in allowed:
                self.fail(f"unknown key {key!r}{closest(key, allowed)}; allowed: {', '.join(allowed)}")

    def reject_unknown(self, allowed):
        """Unknown keys are errors at their own key path (``<path>.k: unknown key ...; allowed: ...``)."""
        allowed = tuple(allowed)
        for key in self.data:
            if key not in allowed:
                self.fail(f"unknown key{closest(str(key), allowed)}; allowed: {', '.join(allowed)}", key)


def grid(r, key, value, minimum, exclusive, unit):
    """A sorted tuple of floats from a list of numbers, {start, stop, num[, spacing]} or {start, stop, step}.

    Parameters
    ----------
    r : Reader
        Reader of the table holding ``key`` (for the key path of messages).
    key : str
        Key path below ``r`` (``"freqs_hz"``, ``"J"``).
    value : object
        The raw value.
    minimum : float or None
        Lower bound of every value (``exclusive``: strict).
    unit : str
        Unit named in messages.
    """
    limit = MAX_GRID_VALUES
    if isinstance(value, list):
        if not value:
            r.fail("must not be empty", key)
        if len(value) > limit:
            r.fail(f"{len(value)} values exceed the limit {limit}; use a coarser grid", key)
        vals = [r.as_number(v, f"{key}[{i}]", minimum, exclusive, unit) for i, v in enumerate(value)]
    elif isinstance(value, dict):
        allowed = ("start", "stop", "num", "step", "spacing")
        for k in value:
            if k not in allowed:
                r.fail(f"unknown key{closest(k, allowed)}; allowed: {', '.join(allowed)}", f"{key}.{key_text(k)}")
        for k in ("start", "stop"):
            if k not in value:
                r.fail("is required (a range needs start and stop)", f"{key}.{k}")
        start = r.as_number(value["start"], f"{key}.start", minimum, exclusive, unit)
        stop = r.as_number(value["stop"], f"{key}.stop", minimum, exclusive, unit)
        if stop < start:
            r.fail(f"must be >= start ({start:g}), got {stop:g}", f"{key}.stop")
        if ("num" in value) == ("step" in value):
            r.fail("give exactly one of num or step", key)
        spacing = r.as_string(value.get("spacing", "linear"), f"{key}.spacing", ("linear", "log"))
        if "num" in value:
            num = r.as_integer(value["num"], f"{key}.num", 1)
            if num > limit:
                r.fail(f"{num} values exceed the limit {limit}; use a coarser grid", f"{key}.num")
            if spacing == "log" and start <= 0:
                r.fail(f"must be > 0 for log spacing, got {start:g}", f"{key}.start")
            with np.errstate(all="ignore"):                # too wide a range: refused below
                make = np.geomspace if spacing == "log" else np.linspace
                vals = make(start, stop, num).tolist()
        else:
            if spacing == "log":
                r.fail("'log' needs num, not step", f"{key}.spacing")
            step = r.as_number(value["step"], f"{key}.step", 0.0, exclusive=True, unit=unit)
            with np.errstate(over="ignore"):
                count = (stop - start) / step
            if not math.isfinite(count) or count + 1 > limit:
                r.fail(f"{count + 1:.3g} values (stop - start) / step + 1 exceed the limit {limit}; "
                       "use a larger step", key)
            n = int(math.floor(count * (1 + 1e-12))) + 1
            vals = (start + step * np.arange(n)).tolist()
        if not all(math.isfinite(v) for v in vals):
            r.fail(f"the range from {start:g} to {stop:g} is too wide to represent", key)
    else:
        r.fail(f"must be a list of numbers or a table {{start, stop, num}}, got {show(value)}", key)
    if len(set(vals)) != len(vals):
        r.fail("has repeated values", key)
    return tuple(sorted(vals))


# --- message helpers -------------------------------------------------------------------------------------
_BARE_KEY = re.compile(r"^[A-Za-z0-9_.\-\[\]]+$")


def key_text(key):
    """A key as written in a key path: bare when TOML allows it, else quoted with escapes."""
    key = str(key)
    return key if _BARE_KEY.match(key) else json.dumps(key)


def type_name(value):
    """'a table', 'a list', 'a string', ... for messages ("must be a table, got a list")."""
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)


def show(value):
    """A value for a one-line message: its repr (shortened), or its type for a table or a list."""
    text = repr(value) if not isinstance(value, (dict, list)) else type_name(value)
    return text if len(text) <= 60 else text[:57] + "..."
