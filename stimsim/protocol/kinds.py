"""The kinds of protocol file, each declaring its tables, and which ``stimsim`` command runs each.

A file's kind is recognised from its top-level tables, before it is validated:

=========================  ==========================  =====================  ==================
kind                       identifying tables          other tables           run with
=========================  ==========================  =====================  ==================
circuit protocol           ``[circuit]``               run, stimulation,      ``stimsim run``
                                                       analysis, output,
                                                       study
circuit sweep              ``[circuit]``, ``[sweep]``  as above               ``stimsim sweep``
whole-brain protocol       ``[network]``               montage, run, analysis ``stimsim brain``
whole-brain sweep          ``[network]``, ``[sweep]``  montage, run           ``stimsim sweep``
=========================  ==========================  =====================  ==================

A kind matches a file when the file has all of the kind's identifying tables and none of the
other kinds' identifying tables (``[circuit]``, ``[network]``, ``[sweep]``), so at most one kind
matches; a file with none (or with both ``[circuit]`` and ``[network]``) has no recognised kind
and its command's reader reports what is wrong. Every command that takes a protocol file checks
the kind first (:func:`check_kind`): the wrong kind is one line naming the kind and the command
that runs it (exit code 2, as other input errors).
"""
from __future__ import annotations

from dataclasses import dataclass

from .reader import ProtocolError, apply_sets, read_file

_COMMON = ("name", "description")


@dataclass(frozen=True)
class Kind:
    """One kind of protocol file.

    Attributes
    ----------
    name : str
        What the file is, as messages say it ("whole-brain protocol").
    marks : tuple of str
        Identifying top-level tables: a file of this kind has all of them.
    keys : tuple of str
        Every top-level key a file of this kind may have (its reader's allowed keys, in the order
        messages list them).
    command : str
        The ``stimsim`` sub-command that runs it.
    """

    name: str
    marks: tuple
    keys: tuple
    command: str

    def describe(self):
        """'a whole-brain sweep ([network] and [sweep] tables)'."""
        tables = " and ".join(f"[{t}]" for t in self.marks)
        return f"a {self.name} ({tables} table{'s' if len(self.marks) > 1 else ''})"

    def run_with(self, path):
        """The command line that runs ``path``."""
        return f"stimsim {self.command} {path}"


CIRCUIT = Kind("circuit protocol", ("circuit",),
               _COMMON + ("circuit", "run", "stimulation", "analysis", "output", "study"), "run")
CIRCUIT_SWEEP = Kind("circuit sweep", ("circuit", "sweep"), CIRCUIT.keys + ("sweep",), "sweep")
BRAIN = Kind("whole-brain protocol", ("network",), _COMMON + ("network", "montage", "run", "analysis"), "brain")
BRAIN_SWEEP = Kind("whole-brain sweep", ("network", "sweep"), BRAIN.keys + ("sweep",), "sweep")
KINDS = (CIRCUIT, CIRCUIT_SWEEP, BRAIN, BRAIN_SWEEP)
#: the kinds each command takes
COMMANDS = {"run": (CIRCUIT,), "validate": (CIRCUIT,), "brain": (BRAIN,), "sweep": (CIRCUIT_SWEEP, BRAIN_SWEEP)}

_MARKS = frozenset(t for k in KINDS for t in k.marks)


def kind_of(data):
    """The :class:`Kind` of a protocol table (a parsed file), or None when no kind matches."""
    if not isinstance(data, dict):
        return None
    present = _MARKS & {k for k in data if isinstance(k, str)}
    for kind in KINDS:
        if present == set(kind.marks):
            return kind
    return None


def kind_of_file(path, sets=()):
    """The :class:`Kind` of a protocol file (after its ``--set`` overrides), or None when it cannot
    be read or no kind matches (its command's reader then reports why)."""
    try:
        data = read_file(path)
        if sets:
            data = apply_sets(data, sets, str(path))
    except ProtocolError:
        return None
    return kind_of(data)


def wrong_kind(path, kind):
    """The one-line message for ``path`` of ``kind`` given to a command that does not run it."""
    if path is None:
        return f"this is {kind.describe()}: run its file with '{kind.run_with('FILE')}'"
    return f"{path} is {kind.describe()}: run it with '{kind.run_with(path)}'"


def check_kind(path, command, sets=(), also=()):
    """Refuse a file that ``stimsim <command>`` does not run; return its kind (None: not recognised).

    Parameters
    ----------
    path : str or Path
    command : str
        A key of ``COMMANDS``.
    sets : sequence of str
        ``--set`` overrides (they can add or remove a table).
    also : tuple of Kind
        Kinds this invocation takes besides the command's own (``stimsim run --check`` validates a
        circuit sweep).

    Raises
    ------
    ProtocolError
        One line: what kind of file it is and which command runs it.
    """
    kind = kind_of_file(path, sets)
    if kind is not None and kind not in COMMANDS[command] + tuple(also):
        raise ProtocolError(wrong_kind(path, kind))
    return kind
