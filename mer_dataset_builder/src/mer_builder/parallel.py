"""Where tasks run: a local process pool, a Dask cluster or a Ray cluster, behind one interface.

A task is a group of work items (audio files to normalise, utterances to featurise) worth a few
seconds of work. Each task writes its own outputs, atomically, and returns a small result that
the driver records (journal, outcomes) as it arrives. Nothing written depends on where a task
ran, so a run started on one backend resumes on another and the outputs are byte-identical.

    local  a process pool on this machine (one worker runs in-process)
    dask   `--scheduler ADDRESS`, else DASK_SCHEDULER_ADDRESS, else a LocalCluster of `num_workers`
           single-threaded worker processes on 127.0.0.1 (started and stopped with the run)
    ray    RAY_ADDRESS (or an already initialised Ray), else a local Ray instance with `num_workers` CPUs

Dask and Ray workers read the inputs and write the outputs themselves, so they must see the same
folders at the same paths (a shared filesystem). Every task checks that before it starts, so a
worker that cannot fails the run with one line naming the folder instead of silently dropping
files. A worker that dies mid-task (killed, out of memory) has its task rerun by the engine.

Local workers start from a fork server that has already imported the audio stack: cheap to start,
and safe to fork even when the parent runs threads (progress bars).
"""

from __future__ import annotations

import functools
import itertools
import logging
import multiprocessing
import os
import select
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any, TypeVar

from .errors import InputError, RunFailure

T = TypeVar("T")
R = TypeVar("R")

BACKENDS: tuple[str, ...] = ("local", "dask", "ray")
MAX_TASK_ITEMS = 64
TASKS_PER_WORKER = 8
IN_FLIGHT_PER_SLOT = 2  # tasks queued per worker slot on a cluster: workers never idle, memory stays bounded
TASK_RETRIES = 3  # how often Ray reruns a task whose worker died (Dask: distributed.scheduler.allowed-failures)
PRELOAD = ["mer_builder.audio"]
PROBE_PREFIX = ".mer-shared-probe-"
# A LocalCluster of single-threaded worker processes on this machine only; no dashboard, and the scheduler's
# HTTP endpoint on a free port (two clusters on one machine do not fight over 8787).
LOCAL_CLUSTER = {"threads_per_worker": 1, "processes": True, "host": "127.0.0.1", "dashboard_address": None,
                 "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}}  # fmt: skip
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class ExecutorError(RunFailure, RuntimeError):
    """The backend cannot be used (package missing, scheduler unreachable, tasks lost): exit code 1."""


class SharedFilesystemError(RunFailure, OSError):
    """A worker cannot see a folder of the run: the cluster does not share the filesystem (exit code 1)."""


@dataclass(frozen=True)
class SharedFolder:
    """A folder every worker must see. `flag` names it for the user; `expect` names entries the driver sees in
    it (a few of an input folder's, a probe file written for this run in an output folder), so a worker that
    has a different or empty folder at the same path is caught too, not only one that has none."""

    flag: str
    path: str
    expect: tuple[str, ...] = ()


def _some_entries(folder: Path, n: int = 3) -> tuple[str, ...]:
    """Up to `n` names in `folder` (whichever the filesystem lists first: listing a huge folder is not needed)."""
    try:
        with os.scandir(folder) as entries:
            return tuple(entry.name for entry in itertools.islice(entries, n))
    except OSError:
        return ()


def _leave_quietly_if_orphaned(target: Callable[..., None], *args: object) -> None:
    """Run a pool worker's loop; if its parent is gone (killed with -9, so it could not stop the workers),
    sending the finished task's result fails, and the worker exits without a traceback: there is nobody
    left to tell, and one BrokenPipeError traceback per worker would bury the parent's own last words."""
    try:
        target(*args)
    except (BrokenPipeError, ConnectionResetError):
        raise SystemExit(0) from None


def exit_with_parent(run: int, every_s: float = 0.5) -> None:
    """A worker initializer: leave as soon as the run's process `run` is gone. A pool whose run was killed
    with -9 is never told to stop, and its busy or idle workers would run on holding memory and CPU that
    nobody will use. The run is watched itself (a Linux pidfd, readable once it has exited), not the
    worker's parent, which with the forkserver start method is the forkserver and outlives the run by as
    long as it takes to notice; elsewhere the worker polls for its parent changing."""
    try:
        handle: int | None = os.pidfd_open(run)
    except ProcessLookupError:
        os._exit(0)  # the run is already gone
    except (AttributeError, OSError):  # no pidfd here: the worker is the run's child (spawn)
        handle = None
    parent = os.getppid()

    def watch() -> None:
        if handle is not None:
            select.select([handle], [], [])
        else:
            while os.getppid() == parent:
                time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class _Pool(Pool):
    """A `multiprocessing` pool whose workers leave quietly when the parent dies under them."""

    @staticmethod
    def Process(ctx, *args, **kwds):  # the name Pool looks up
        kwds["target"] = functools.partial(_leave_quietly_if_orphaned, kwds["target"])
        return ctx.Process(*args, **kwds)


def default_num_workers() -> int:
    """The CPUs this process may run on (respects affinity masks and container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def free_cpus() -> int:
    """CPUs not busy right now: the available CPUs minus the 1-minute load average, at least 1."""
    cpus = default_num_workers()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this platform
        return cpus
    return max(1, min(cpus, round(cpus - load)))


def task_size(n_items: int, slots: int, max_items: int = MAX_TASK_ITEMS) -> int:
    """Items per task: several tasks per worker (so the tail stays balanced), at most `max_items` each."""
    return max(1, min(max_items, n_items // (max(1, slots) * TASKS_PER_WORKER)))


def cut_tasks(items: Sequence[T], size: int) -> list[list[T]]:
    """Consecutive groups of `size` items (the last may be shorter)."""
    size = max(1, size)
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def check_shared(folders: Sequence[SharedFolder], backend: str) -> None:
    """Raise `SharedFilesystemError` unless this process sees every folder of the run (runs on the worker)."""
    for folder in folders:
        seen = os.path.isdir(folder.path) and all(os.path.lexists(os.path.join(folder.path, e)) for e in folder.expect)
        if not seen:
            raise SharedFilesystemError(
                f"a worker on host {socket.gethostname()} cannot see {folder.flag} {folder.path}: --backend {backend} "
                "needs every worker to read and write the run's folders at the same paths on a shared filesystem "
                "(NFS, Lustre, a shared volume); mount it there or use --backend local"
            )


def run_task(fn: Callable[[T], R], task: T, folders: Sequence[SharedFolder], backend: str) -> R:
    """What a cluster worker runs: check the shared folders, then the task."""
    check_shared(folders, backend)
    return fn(task)


class Executor:
    """Runs `fn` over tasks and yields the results in completion order; a context manager."""

    backend = "local"
    slots = 1  # tasks that can run at once

    def map_tasks(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        raise NotImplementedError

    def close(self, wait: bool = True) -> None:
        """Release the workers: let them finish (`wait`) or stop them at once (after an error or Ctrl-C)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(wait=exc_type is None)


# ---------------------------------------------------------------- local


def _exit_on_terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _local_worker_init(threads: int, run: int) -> None:
    """Ctrl-C reaches every process of the terminal's group, but only the parent handles it: it stops
    the workers, whose SIGTERM then unwinds like an exception, so a half-written output's temporary
    file is removed rather than left behind. Math libraries get their share of the CPUs (as Dask and
    Ray give theirs), so workers do not oversubscribe the machine."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_terminate)
    exit_with_parent(run)  # the process that made the pool: gone if the run was killed with -9
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))  # numpy's BLAS, already loaded by the preload


class LocalExecutor(Executor):
    """A process pool of `num_workers` on this machine, or a plain in-process loop for one worker."""

    backend = "local"

    def __init__(self, num_workers: int):
        if num_workers < 1:
            raise ValueError(f"--num_workers must be at least 1, got {num_workers}")
        self.slots = num_workers
        self._pool: Pool | None = None

    def map_tasks(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        tasks = list(tasks)
        if self.slots == 1 or len(tasks) <= 1:
            return map(fn, tasks)
        return self._started().imap_unordered(fn, tasks, chunksize=1)

    def _started(self) -> Pool:
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            if "forkserver" in methods:
                context.set_forkserver_preload(PRELOAD)
            threads = max(1, default_num_workers() // self.slots)
            self._pool = _Pool(
                self.slots, initializer=_local_worker_init, initargs=(threads, os.getpid()), context=context
            )
        return self._pool

    def close(self, wait: bool = True) -> None:
        if self._pool is None:
            return
        if wait:
            self._pool.close()
        else:
            self._pool.terminate()
        self._pool.join()
        self._pool = None


# ---------------------------------------------------------------- clusters


class _ClusterExecutor(Executor):
    """Shared by Dask and Ray: start the engine, write the probe files, keep a bounded window of
    submitted tasks topped up as results arrive."""

    def __init__(self, num_workers: int, scheduler: str | None, inputs: dict[str, Path], outputs: dict[str, Path]):
        self._start(num_workers, scheduler)
        probe = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
        self._probes = [Path(path).resolve() / probe for path in outputs.values()]
        try:
            for path in self._probes:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")
        except BaseException:
            self.close()
            raise
        self.folders = tuple(
            [SharedFolder(flag, str(Path(path).resolve()), _some_entries(Path(path))) for flag, path in inputs.items()]
            + [SharedFolder(flag, str(Path(path).resolve()), (probe,)) for flag, path in outputs.items()]
        )

    def _start(self, num_workers: int, scheduler: str | None) -> None:
        raise NotImplementedError

    def _submit(self, fn: Callable, task: Any) -> Any:
        raise NotImplementedError

    def _next_done(self, pending: list) -> Any:
        """Remove one finished handle from `pending` and return its result (raising the task's error)."""
        raise NotImplementedError

    def _cancel(self, pending: list) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def map_tasks(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        upcoming = iter(tasks)
        pending = [self._submit(fn, task) for task in itertools.islice(upcoming, IN_FLIGHT_PER_SLOT * self.slots)]
        try:
            while pending:
                result = self._next_done(pending)
                for task in itertools.islice(upcoming, 1):
                    pending.append(self._submit(fn, task))
                yield result
        finally:
            if pending:
                self._cancel(pending)

    def close(self, wait: bool = True) -> None:
        try:
            self._stop()
        finally:
            for path in self._probes:
                path.unlink(missing_ok=True)
            self._probes = []


class DaskExecutor(_ClusterExecutor):
    backend = "dask"

    def _start(self, num_workers: int, scheduler: str | None) -> None:
        try:
            import dask
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("--backend dask needs dask.distributed: pip install 'mer[dask]'") from None
        # dask reads DASK_SCHEDULER_ADDRESS into its config when imported; the variable itself wins if set later
        address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or dask.config.get("scheduler-address", None)
        self._cluster = None
        if address:
            try:
                self._client = Client(address, timeout="30s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ExecutorError(f"--backend dask: cannot connect to the scheduler at {address} ({exc})") from None
        else:
            self._cluster = LocalCluster(n_workers=num_workers, silence_logs=logging.ERROR, **LOCAL_CLUSTER)
            self._client = Client(self._cluster)
        self.address = self._client.scheduler.address
        self.slots = max(1, sum(self._client.nthreads().values()) or num_workers)

    def _submit(self, fn: Callable, task: Any) -> Any:
        return self._client.submit(run_task, fn, task, self.folders, self.backend, pure=False)

    def _next_done(self, pending: list) -> Any:
        from dask.distributed import wait

        done = next(iter(wait(pending, return_when="FIRST_COMPLETED").done))
        pending.remove(done)
        try:
            return done.result()
        finally:
            done.release()

    def _cancel(self, pending: list) -> None:
        self._client.cancel(pending)

    def _stop(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


class RayExecutor(_ClusterExecutor):
    backend = "ray"

    def _start(self, num_workers: int, scheduler: str | None) -> None:
        try:
            import ray
        except ImportError:
            raise ExecutorError("--backend ray needs Ray: pip install 'mer[ray]'") from None
        self._ray = ray
        self._owned = not ray.is_initialized()  # a session the caller opened (a notebook) stays open
        if self._owned:
            address = os.environ.get("RAY_ADDRESS") or None
            try:  # a cluster brings its own CPUs; a local instance gets num_workers of them
                ray.init(
                    address=address,
                    num_cpus=None if address else num_workers,
                    include_dashboard=None if address else False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = address or "a local instance"
                raise ExecutorError(f"--backend ray: cannot start or reach Ray at {where} ({exc})") from None
        self.slots = max(1, int(ray.cluster_resources().get("CPU", num_workers)))
        self._remote: Any = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(run_task)

    def _submit(self, fn: Callable, task: Any) -> Any:
        return self._remote.remote(fn, task, self.folders, self.backend)

    def _next_done(self, pending: list) -> Any:
        ray = self._ray
        [done], _ = ray.wait(pending, num_returns=1)
        pending.remove(done)
        try:
            return ray.get(done)
        except ray.exceptions.RayTaskError as exc:  # the task raised: re-raise what it raised
            raise exc.cause from None
        except ray.exceptions.RayError as exc:  # its worker died more often than the retries allow
            raise ExecutorError(f"--backend ray: a task was lost ({type(exc).__name__}: {exc})") from None

    def _cancel(self, pending: list) -> None:
        for ref in pending:
            self._ray.cancel(ref, force=True)

    def _stop(self) -> None:
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        self._owned = False


# ---------------------------------------------------------------- choosing one


def open_executor(
    backend: str = "local",
    num_workers: int = 1,
    scheduler: str | None = None,
    inputs: dict[str, Path] | None = None,
    outputs: dict[str, Path] | None = None,
) -> Executor:
    """The executor for `backend`. `inputs` / `outputs` map a flag to a folder every cluster worker must see
    (to read, or to read and write); `num_workers` sizes a local pool, a LocalCluster or a local Ray instance."""
    if backend not in BACKENDS:
        raise InputError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if num_workers < 1:
        raise InputError(f"--num_workers must be at least 1, got {num_workers}")
    if scheduler and backend != "dask":
        raise InputError("--scheduler is the address of a Dask scheduler: use it with --backend dask")
    if backend == "local":
        return LocalExecutor(num_workers)
    cls = DaskExecutor if backend == "dask" else RayExecutor
    return cls(num_workers, scheduler, inputs or {}, outputs or {})
