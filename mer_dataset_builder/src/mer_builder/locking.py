"""One output folder, one writer: the lock every stage takes on the folder it writes.

The lock is an OS file lock (`flock` on POSIX, `msvcrt.locking` on Windows) on `.mer.lock` in the
output folder, so the kernel releases it when its process ends, however it ends: a lock can never
be left held by a process that is gone. The file also says who holds it (PID, host, start time,
command), so a second writer is refused with one line naming the first. A clean exit removes the
file; one left behind by a killed run is taken over, with a note naming the run that left it.

    with output_lock(out_dir):
        ...  # check what is there, then write

Folders the lock had to create are removed again if the run left them empty.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from .errors import RunFailure

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

LOCK_NAME = ".mer.lock"
# Windows locks byte ranges and forbids reading a locked one: lock a byte far past the holder's note.
_WINDOWS_LOCK_OFFSET = 1 << 30
_log = logging.getLogger(__name__)


class OutputLockedError(RunFailure, FileExistsError):
    """Another live process is writing to the same output folder: the inputs are fine, the run cannot
    go on now (exit code 1)."""


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:  # EWOULDBLOCK / EACCES: someone holds it
        return False
    return True


def _read_holder(fd: int) -> dict | None:
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, 65536)
    try:
        holder = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _describe(holder: dict | None) -> str:
    if not holder:
        return "a process that is just starting"
    where = "" if holder.get("host") == socket.gethostname() else f" on {holder.get('host')}"
    command = str(holder.get("command", ""))
    command = command if len(command) <= 80 else command[:77] + "..."
    return f"PID {holder.get('pid')}{where}, started {holder.get('started')}: {command}"


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file `fd` locked (a releasing holder may just have removed it)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


@contextmanager
def output_lock(folder: Path | str, lock_file: Path | str | None = None) -> Iterator[None]:
    """Hold the writer's lock of `folder` for the block; `OutputLockedError` if another process holds it.

    `lock_file` puts the lock elsewhere (beside a folder that is replaced by a rename, whose own
    lock file would be renamed away with it); by default it is `folder/.mer.lock`.
    """
    folder = Path(folder)
    path = Path(lock_file) if lock_file is not None else folder / LOCK_NAME
    created = _missing_folders(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        if not _try_lock(fd):
            holder = _read_holder(fd)
            os.close(fd)
            raise OutputLockedError(
                f"{folder}: another run is writing here ({_describe(holder)}); "
                "wait for it to finish, or give another output folder"
            )
        if _same_file(fd, path):
            break
        os.close(fd)  # it was released and removed between our open and our lock: take the new one
    try:
        previous = _read_holder(fd)
        if previous:
            _log.warning(
                "note: %s: took over the lock left by %s, which ended without releasing it; "
                "what it left unfinished is redone",
                folder,
                _describe(previous),
            )
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(me).encode("utf-8"))
        yield
    finally:
        with suppress(OSError):  # Windows cannot remove an open file: the empty note is left instead
            os.ftruncate(fd, 0)
            path.unlink()
        os.close(fd)  # closing releases the lock
        for made in created:  # a run that wrote nothing leaves no empty folders behind
            with suppress(OSError):
                made.rmdir()


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing
