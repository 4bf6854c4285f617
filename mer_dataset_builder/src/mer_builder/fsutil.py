"""Atomic file writes: a reader never sees a half-written file, and a crash leaves the old one."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; a finished output gets the permissions a
# plain open() would have given it, so shared datasets stay readable by the group.
_FILE_MODE = 0o666 & ~_current_umask()


@contextmanager
def atomic_output(path: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    The temporary file keeps `path`'s suffix (or `suffix`) so libraries that pick a format
    from the extension (soundfile, numpy) still do the right thing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tail = (suffix if suffix is not None else path.suffix) + ".tmp"
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(6)}{tail}")
    # The file is made inside the `try`, its name known before: a stop (a pool worker's SIGTERM after
    # Ctrl-C raises SystemExit wherever it lands) just after it exists still removes it.
    try:
        while True:
            try:
                os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                break
            except FileExistsError:  # another writer's: take a new name, never remove theirs
                tmp = path.with_name(f".{path.stem}.{secrets.token_hex(6)}{tail}")
        with named_disk_errors(path):
            yield tmp
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# A write refused by the disk under an output (full, over quota, read-only, file too large).
DISK_ERRNOS = frozenset(
    code for name in ("ENOSPC", "EDQUOT", "EROFS", "EFBIG") if (code := getattr(errno, name, None)) is not None
)


@contextmanager
def named_disk_errors(path: Path, built_in: Path | None = None) -> Iterator[None]:
    """Give a disk error raised without a file name (`write()` on a full disk says only "[Errno 28] ...") the
    name of the output being written, so the user learns which file and folder ran out of room. A file in
    `built_in`, the temporary folder that becomes `path`, is named by where it would have landed."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None or exc.errno not in DISK_ERRNOS:
            raise
        name = Path(exc.filename) if exc.filename else None
        if name is not None and (built_in is None or not name.is_relative_to(built_in)):
            raise
        target = path / name.relative_to(built_in) if name is not None and built_in is not None else path
        raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(target)) from exc


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def csv_text(rows: Sequence[Mapping], columns: Sequence[str]) -> str:
    """CSV with a header row, "\\n" line ends; keys not in `columns` are left out."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
