"""A process pool for per-file work: started once per run, fed in chunks, results streamed back.

Per-file tasks (decode, resample, write) take milliseconds, so sending them one at a time
would spend a noticeable share of the run on inter-process traffic. Work goes out in chunks
sized so every worker gets several of them (the tail stays balanced), and results come back
as they finish, so the parent never holds more than a chunk of them. Workers start from a
fork server that has already imported the audio stack: cheap to start, and safe to fork
even when the parent runs threads (progress bars).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.pool import Pool
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_CHUNK = 32
CHUNKS_PER_WORKER = 8
PRELOAD = ["mer_builder.audio"]


def _exit_on_terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _worker_signals() -> None:
    """Ctrl-C reaches every process of the terminal's group, but only the parent handles it: it stops
    the workers, whose SIGTERM then unwinds like an exception, so a half-written output's temporary
    file is removed rather than left behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_terminate)


def _leave_quietly_if_orphaned(target: Callable[..., None], *args: object) -> None:
    """Run a pool worker's loop; if its parent is gone (killed with -9, so it could not stop the workers),
    sending the finished task's result fails, and the worker exits without a traceback: there is nobody
    left to tell, and one BrokenPipeError traceback per worker would bury the parent's own last words."""
    try:
        target(*args)
    except (BrokenPipeError, ConnectionResetError):
        raise SystemExit(0) from None


def exit_with_parent(parent: int, every_s: float = 0.5) -> None:
    """A worker initializer: leave as soon as the process that started this worker is gone. A pool whose
    parent was killed with -9 is never told to stop, and its busy or idle workers would run on (joblib's
    loky workers for minutes) holding memory and CPU that nobody will use."""

    def watch() -> None:
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


def chunk_size(n_items: int, num_workers: int) -> int:
    return max(1, min(MAX_CHUNK, n_items // (num_workers * CHUNKS_PER_WORKER)))


class WorkerPool:
    """`imap_unordered` over `num_workers` processes, or a plain in-process map for one worker."""

    def __init__(self, num_workers: int):
        if num_workers < 1:
            raise ValueError(f"--num_workers must be at least 1, got {num_workers}")
        self.num_workers = num_workers
        self._pool: Pool | None = None

    def imap_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        """Results of `fn` over `items` in completion order; `fn` must be importable by name."""
        if self.num_workers == 1 or len(items) <= 1:
            return map(fn, items)
        return self._started().imap_unordered(fn, items, chunk_size(len(items), self.num_workers))

    def _started(self) -> Pool:
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            if "forkserver" in methods:
                context.set_forkserver_preload(PRELOAD)
            self._pool = _Pool(self.num_workers, initializer=_worker_signals, context=context)
        return self._pool

    def close(self, wait: bool = True) -> None:
        """Let the workers finish and exit (`wait`), or stop them at once (after an error or Ctrl-C)."""
        if self._pool is None:
            return
        if wait:
            self._pool.close()
        else:
            self._pool.terminate()
        self._pool.join()
        self._pool = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(wait=exc_type is None)
