"""Atomic result writing and reproducibility metadata (files only; no equations here).

A run claims its destination folder before it computes anything (:func:`staged_directory`):
it checks that the folder can be created, takes an exclusive lock ``.<name>.stimsim-lock`` beside
it (a second run into the same folder is refused at once), and writes into a hidden staging folder
``.<name>.partial-<host>-<pid>-<random>`` that is renamed into place at the end. A failed or
interrupted run removes its staging folder (and the parent folders it created); the staging
folder of a process that died without cleaning up (killed with SIGKILL, power loss) is removed by
the next run writing beside it. Single files are written to a temporary name and renamed
(``os.replace`` is atomic on one file system).

Files and folders get the permissions of the user's umask (created with modes 0o666 and 0o777,
which the operating system masks), not the private 0o600/0o700 of :mod:`tempfile`.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import sys
import time
from pathlib import Path

from .errors import InputError

try:                                    # POSIX advisory locks; without them only the final rename guards
    import fcntl
except ImportError:                     # pragma: no cover - not POSIX
    fcntl = None

#: a staging folder: ``.<final name>.partial-<host id>-<pid>-<random hex>``
_STAGE = re.compile(r"^\.(?P<final>.+)\.partial-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]+$")
#: the lock file of a result folder being written: ``.<final name>.stimsim-lock``
_LOCK_SUFFIX = ".stimsim-lock"


# --- single files -----------------------------------------------------------------------------------
def _new_file(directory, prefix, suffix):
    """Create an empty file with a fresh random name in ``directory``; return (fd, path).

    Mode 0o666 masked by the umask (``tempfile.mkstemp`` would give 0o600).
    """
    for _ in range(100):
        path = Path(directory) / f"{prefix}{os.urandom(4).hex()}{suffix}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(directory))


@contextlib.contextmanager
def _atomic_file(path, mode="wb"):
    """Yield a file object on a temporary file beside ``path``; rename it to ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_file(path.parent, f".{path.name}.", ".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (temporary file, then rename)."""
    with _atomic_file(path) as fh:
        fh.write(data)


def atomic_write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_csv(frame, path):
    """Write a pandas table as CSV atomically, streamed in chunks (no copy of the whole text in memory)."""
    with _atomic_file(path, "w") as fh:
        frame.to_csv(fh, index=False)


def write_json(obj, path):
    """Write ``obj`` as indented JSON atomically (numpy values, paths and complex numbers converted)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def save_figure(fig, path, dpi=120):
    """Save a matplotlib figure atomically (PNG)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_file(path.parent, f".{path.name}.", path.suffix)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _jsonable(obj):
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, complex):
        return [obj.real, obj.imag]
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


# --- result folders ---------------------------------------------------------------------------------
def _host_id():
    """8 hex digits naming this machine (staging folders of other machines are never touched)."""
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def pid_alive(pid):
    """True if a process with this id exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:             # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def check_output_dir(final_dir, existing_ok=False):
    """Refuse, before anything runs, an output folder that cannot be written.

    Parameters
    ----------
    final_dir : path
        The result folder to create.
    existing_ok : bool
        Accept an existing non-empty folder (a parent under which run folders are made).

    Raises
    ------
    stimsim.errors.InputError
        ``final_dir`` is a file, or a non-empty folder (unless ``existing_ok``), or it cannot be
        created: a parent is a file, or the nearest existing parent is not writable.
    """
    final_dir = Path(final_dir)
    if final_dir.exists() or final_dir.is_symlink():
        if not final_dir.is_dir():
            raise InputError(f"output folder {final_dir} exists and is not a folder (a file of that name is in the way)")
        if not existing_ok and any(final_dir.iterdir()):
            raise InputError(f"output folder {final_dir} already exists and is not empty; choose another --out")
        base = final_dir
    else:
        base = final_dir.parent
        while not (base.exists() or base.is_symlink()):
            if base == base.parent:
                break
            base = base.parent
        if not base.is_dir():
            raise InputError(f"cannot create output folder {final_dir}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"cannot create output folder {final_dir}: no permission to write in {base}")


def _make_parents(directory):
    """mkdir -p ``directory``; return the folders created (deepest last) so a failure can undo them."""
    missing = []
    d = Path(directory)
    while not d.exists() and d != d.parent:
        missing.append(d)
        d = d.parent
    created = []
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o777)
            created.append(d)
        except FileExistsError:
            pass
    return created


def remove_stale_stages(parent):
    """Remove what runs that died without cleaning up left in ``parent``.

    Staging folders of processes of this machine that no longer run (the pid is in the name), and
    lock files that no process holds (a lock is released when its process dies).

    Returns
    -------
    list of pathlib.Path
        The staging folders removed.
    """
    removed = []
    host = _host_id()
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(_LOCK_SUFFIX) and fcntl is not None:
            _remove_if_unlocked(Path(entry.path))
            continue
        m = _STAGE.match(entry.name)
        if not m or m["host"] != host or int(m["pid"]) == os.getpid() or pid_alive(int(m["pid"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
                removed.append(Path(entry.path))
    return removed


def _remove_if_unlocked(path):
    """Delete a lock file that no process holds (its owner died); leave a held one alone."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # a process that opened the file before the unlink sees another inode and starts over
        if os.fstat(fd).st_ino == os.stat(path).st_ino:
            os.unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Lock:
    """An exclusive advisory lock ``.<name>.stimsim-lock`` beside a result folder, held for the run.

    The kernel drops the lock when its process dies (even by SIGKILL), so a lock is never stale;
    the owner deletes the file when it is done, and a later run deletes one left by a killed run.
    """

    def __init__(self, final_dir):
        self.path = final_dir.parent / f".{final_dir.name}{_LOCK_SUFFIX}"
        self.fd = None

    def acquire(self, final_dir):
        if fcntl is None:
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise
                owner = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise InputError(f"output folder {final_dir} is being written by another stimsim run "
                                 f"(pid {owner}); wait for it or choose another --out") from None
            try:                        # the owner before us may have deleted the file meanwhile
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self.fd = fd

    def release(self):
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = None


class staged_directory:
    """Claim ``final_dir``, yield a staging folder, and rename it to ``final_dir`` on success.

    Entered before the computation, so that every problem with the destination is found before
    anything runs: the folder exists as a file or is not empty, cannot be created, or is being
    written by another stimsim run (:class:`~stimsim.errors.InputError`). On any exception
    (including KeyboardInterrupt and the CLI's SIGTERM) the staging folder, and the parent folders
    this call created, are removed and ``final_dir`` is not created.

    If, despite the lock, ``final_dir`` was filled by someone else while the run was going (a
    program that does not take the lock), the results go to the first free sibling
    ``<final_dir>-2``, ``-3``, ...: :attr:`final_dir` is then that folder and :attr:`redirected`
    is True.

    Re-entrant: a nested ``with`` on the same object yields the same staging folder and leaves
    the commit (or the clean-up) to the outermost one, so a caller can claim the folder early and
    let the code that writes the files use it later.

    Examples
    --------
    >>> staging = staged_directory("results/demo")          # doctest: +SKIP
    >>> with staging as stage:                               # doctest: +SKIP
    ...     (stage / "a.txt").write_text("x")
    >>> staging.final_dir                                    # doctest: +SKIP
    PosixPath('results/demo')
    """

    def __init__(self, final_dir):
        self.final_dir = Path(final_dir)
        self.requested = self.final_dir
        self.redirected = False
        self.stage = None
        self._created = []
        self._lock = None
        self._depth = 0

    def __enter__(self):
        if self._depth:
            self._depth += 1
            return self.stage
        final_dir = self.final_dir
        check_output_dir(final_dir)
        try:
            self._created = _make_parents(final_dir.parent)
        except OSError as exc:
            raise InputError(f"cannot create output folder {final_dir}: {exc.strerror or exc}") from None
        try:
            self._lock = _Lock(final_dir)
            self._lock.acquire(final_dir)
            check_output_dir(final_dir)            # again, now that no stimsim run can change it
            remove_stale_stages(final_dir.parent)
            self.stage = self._make_stage()
        except BaseException as exc:
            self._undo()
            if isinstance(exc, OSError):
                raise InputError(f"cannot create output folder {final_dir}: {exc.strerror or exc}") from None
            raise
        self._depth = 1
        return self.stage

    def _make_stage(self):
        prefix = f".{self.final_dir.name}.partial-{_host_id()}-{os.getpid()}-"
        for _ in range(100):
            stage = self.final_dir.parent / (prefix + os.urandom(4).hex())
            try:
                os.mkdir(stage, 0o777)
                return stage
            except FileExistsError:
                continue
        raise FileExistsError(errno.EEXIST, "no free staging folder name", str(self.final_dir.parent))

    def __exit__(self, exc_type, exc, tb):
        self._depth -= 1
        if self._depth:
            return False
        if exc_type is not None:
            self._undo()
            return False
        try:
            self._commit()
        except BaseException:
            self._undo()
            raise
        self.stage = None
        if self._lock is not None:
            self._lock.release()
        return False

    def _commit(self):
        # os.rename replaces an empty folder atomically and fails on a non-empty one (POSIX)
        try:
            os.rename(self.stage, self.final_dir)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise
        base = self.final_dir
        for k in range(2, 10_000):
            candidate = base.with_name(f"{base.name}-{k}")
            if candidate.exists():
                continue
            try:
                os.rename(self.stage, candidate)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                    continue
                raise
            self.final_dir, self.redirected = candidate, True
            return
        raise FileExistsError(errno.EEXIST, "no free sibling result folder", str(base))

    def _undo(self):
        if self.stage is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage = None
        if self._lock is not None:
            self._lock.release()
        for d in reversed(self._created):          # deepest first; only while still empty
            with contextlib.suppress(OSError):
                os.rmdir(d)
        self._created = []


def environment_info():
    """Versions of stimsim, Python and the numerical libraries, for metadata files."""
    import numba
    import numpy
    import pandas
    import scipy

    from . import __version__

    return {
        "stimsim": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "pandas": pandas.__version__,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def new_run_id():
    """A sortable, unique run folder name: UTC time plus a short random suffix."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()
