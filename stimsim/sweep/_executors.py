"""Executors: where the chunks of a sweep run, behind one interface.

``serial``
    in this process, one chunk at a time, the kernel on one thread (a reference, and for debugging);
``local`` (default)
    in this process, one chunk at a time, each chunk's tasks as lanes of the batched numba kernel
    on every core (``numba.prange`` over blocks of lanes); no server;
``dask``
    on a ``dask.distributed`` cluster: an existing scheduler (``scheduler='tcp://HOST:PORT'``) or
    a ``LocalCluster`` of ``workers`` processes started here. Each chunk is one task on a worker.

Thread policy: a worker process runs one chunk at a time (one Dask thread) and lets the kernel use
``cores of its host // worker processes on that host`` numba threads, so Dask threads x numba
threads never exceed the cores. Every executor runs the same chunk function
(:func:`stimsim.sweep._tasks.evaluate_chunk`), and a task's lanes do not interact, so the tables
are identical across executors.

``executor.map(fn, chunks)`` yields (chunk index, result) as chunks finish, in any order.
"""
from __future__ import annotations

import os

from ..errors import InputError

EXECUTORS = ("serial", "local", "dask")
#: seconds to wait for an existing Dask scheduler to answer before the sweep is refused
CONNECT_TIMEOUT_S = 5
#: protocols of a scheduler address (dask.distributed comms)
SCHEDULER_PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx")
_HOW = "give PROTOCOL://HOST:PORT, e.g. tcp://10.0.0.5:8786"


def check_scheduler_address(address):
    """Parse the address of a Dask scheduler; return it stripped of blanks.

    Parameters
    ----------
    address : str
        ``[PROTOCOL://]HOST:PORT`` with PROTOCOL one of :data:`SCHEDULER_PROTOCOLS` (default tcp)
        and PORT 1..65535.

    Raises
    ------
    stimsim.errors.InputError
        Naming ``--scheduler``, the value and the allowed form.
    """
    text = str(address).strip()
    proto, sep, loc = text.rpartition("://")
    if not sep:
        proto, loc = "tcp", text
    if proto not in SCHEDULER_PROTOCOLS:
        raise InputError(f"--scheduler {address!r}: unknown protocol {proto!r} (allowed: "
                         f"{', '.join(SCHEDULER_PROTOCOLS)}); {_HOW}")
    host, colon, port = loc.rpartition(":")
    if not colon or not host.strip("[]") or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InputError(f"--scheduler {address!r} is not a scheduler address HOST:PORT (PORT 1-65535); {_HOW}")
    return text


def _missing_dask():
    return InputError("the dask executor needs dask.distributed: pip install 'stimsim[distributed]' "
                      "(or pip install 'dask[distributed]')")


class SerialExecutor:
    """One chunk at a time in this process, the kernel on one thread."""

    name = "serial"

    def numba_threads(self):
        return 1

    def map(self, fn, chunks):
        import numba

        before = numba.get_num_threads()
        try:
            for i, args in enumerate(chunks):
                yield i, fn(*args, numba_threads=1)
        finally:
            numba.set_num_threads(before)

    def describe(self):
        return {"executor": self.name, "numba_threads": 1}

    def close(self):
        pass


class LocalExecutor(SerialExecutor):
    """One chunk at a time in this process, the kernel on every core (the default)."""

    name = "local"

    def numba_threads(self):
        import numba

        return numba.config.NUMBA_NUM_THREADS

    def map(self, fn, chunks):
        import numba

        before = numba.get_num_threads()
        try:
            for i, args in enumerate(chunks):
                yield i, fn(*args, numba_threads=numba.config.NUMBA_NUM_THREADS)
        finally:
            numba.set_num_threads(before)

    def describe(self):
        return {"executor": self.name, "numba_threads": self.numba_threads()}


class DaskExecutor:
    """Chunks as tasks on a dask.distributed cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://HOST:PORT``).
    workers : int, optional
        Start a ``LocalCluster`` with this many single-threaded worker processes (default: one per
        core when no scheduler is given).
    max_in_flight : int, optional
        Chunks submitted ahead of the finished ones (default 2 per worker), so that memory holds a
        bounded number of chunk results whatever the sweep size.
    """

    name = "dask"

    def __init__(self, scheduler=None, workers=None, max_in_flight=None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise _missing_dask() from None
        if scheduler is not None and workers is not None:
            raise InputError("give either scheduler (an existing cluster) or workers (a local cluster), not both")
        self.cluster = None
        if scheduler is None:
            n = int(workers) if workers is not None else (os.cpu_count() or 1)
            if n < 1:
                raise InputError(f"workers must be >= 1, got {workers!r}")
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None)
            self.client = Client(self.cluster)
        else:
            scheduler = check_scheduler_address(scheduler)
            try:
                self.client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
            except (OSError, ValueError) as exc:       # TimeoutError is an OSError
                why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise InputError(f"--scheduler {scheduler}: no Dask scheduler answered within {CONNECT_TIMEOUT_S} s "
                                 f"({why}); start one (dask scheduler) or correct the address") from None
        self.max_in_flight = max_in_flight

    def _threads_per_worker(self):
        """{worker address: numba threads} by the thread policy (module docstring)."""
        info = self.client.scheduler_info()["workers"]
        by_host = {}
        for addr, w in info.items():
            by_host.setdefault(w.get("host", addr), []).append((addr, w))
        out = {}
        for host, ws in by_host.items():
            cores = max(w.get("metrics", {}).get("cpu_count", 0) or 0 for _, w in ws) or os.cpu_count() or 1
            dask_threads = sum(int(w.get("nthreads", 1)) for _, w in ws)
            for addr, w in ws:
                out[addr] = max(1, cores // max(dask_threads, 1))
        return out

    def numba_threads(self):
        t = self._threads_per_worker()
        return min(t.values()) if t else 1

    def map(self, fn, chunks):
        from dask.distributed import as_completed

        threads = self.numba_threads()
        n_workers = max(1, len(self.client.scheduler_info()["workers"]))
        ahead = self.max_in_flight or 2 * n_workers
        it = iter(enumerate(chunks))
        futures = {}
        pending = as_completed()

        def submit_next():
            try:
                i, args = next(it)
            except StopIteration:
                return False
            fut = self.client.submit(fn, *args, numba_threads=threads, pure=False)
            futures[fut] = i
            pending.add(fut)
            return True

        for _ in range(ahead):
            if not submit_next():
                break
        for fut in pending:
            i = futures.pop(fut)
            result = fut.result()
            fut.release()
            submit_next()
            yield i, result

    def describe(self):
        info = self.client.scheduler_info()
        return {"executor": self.name, "scheduler": info.get("address"), "workers": len(info["workers"]),
                "numba_threads_per_worker": self.numba_threads(), "local_cluster": self.cluster is not None}

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def check_executor(name=None, scheduler=None, workers=None):
    """The executor's name: ``name``, or 'dask' when a scheduler or workers are given, else 'local'.

    Raises
    ------
    stimsim.errors.InputError
        An unknown name; a scheduler or workers with 'serial' or 'local' (they run in this
        process); both a scheduler and workers; workers < 1; a malformed scheduler address.
    """
    dask = scheduler is not None or workers is not None
    if name is None:
        name = "dask" if dask else "local"
    if name not in EXECUTORS:
        from ..errors import unknown_name_error

        raise InputError(str(unknown_name_error("executor", name, EXECUTORS)))
    if dask and name != "dask":
        flag = "--scheduler" if scheduler is not None else "--workers"
        raise InputError(f"--executor {name} runs in this process; {flag} applies only to --executor dask "
                         "(leave --executor out, or drop " + flag + ")")
    if scheduler is not None and workers is not None:
        raise InputError("give either --scheduler (an existing Dask cluster) or --workers (a local one), not both")
    if workers is not None and (isinstance(workers, bool) or int(workers) != workers or workers < 1):
        raise InputError(f"--workers must be an integer >= 1, got {workers!r}")
    if scheduler is not None:
        check_scheduler_address(scheduler)
    return name


def make_executor(name=None, scheduler=None, workers=None):
    """The executor called ``name`` ('serial', 'local', 'dask'; default: 'dask' when a scheduler or
    workers are given, else 'local'), checked by :func:`check_executor`."""
    name = check_executor(name, scheduler, workers)
    if name == "dask":
        return DaskExecutor(scheduler=scheduler, workers=workers)
    return SerialExecutor() if name == "serial" else LocalExecutor()
