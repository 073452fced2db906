"""Atomic result writing and reproducibility metadata (files only; no equations here).

A run writes into a hidden staging folder beside its destination and renames it into place at the
end, so an interrupted or failed run leaves no half-written result folder; single files are
written to a temporary name and renamed (``os.replace`` is atomic on one file system).
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path


def atomic_write_bytes(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def write_csv(frame, path):
    """Write a pandas table as CSV atomically."""
    atomic_write_text(path, frame.to_csv(index=False))


def write_json(obj, path):
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def save_figure(fig, path, dpi=120):
    """Save a matplotlib figure atomically (PNG)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
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


@contextlib.contextmanager
def staged_directory(final_dir):
    """Yield a staging folder; on success it becomes ``final_dir`` (replacing nothing that exists).

    On any exception (including KeyboardInterrupt) the staging folder is removed and ``final_dir``
    is not created.
    """
    final_dir = Path(final_dir)
    if final_dir.exists() and any(final_dir.iterdir()):
        raise FileExistsError(f"output folder {final_dir} already exists and is not empty")
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.partial-", dir=final_dir.parent))
    try:
        yield stage
        if final_dir.exists():
            final_dir.rmdir()
        os.replace(stage, final_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


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
