"""Resumable downloads and safe archive extraction for the recipes that may fetch their corpus.

A download streams into `<name>.part`, resumes it with an HTTP Range request, checks the
SHA-256 where the digest is known, and only then renames it into place. Extraction refuses
any member that would land outside the target folder (absolute paths, `..`, links), and a
`.completed` marker records a finished extraction so a rerun skips it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from .errors import RunFailure

CHUNK = 1 << 20
COMPLETED_MARKER = ".completed"
# `--quiet` reaches the progress bars of downloads that recipes start, without a parameter on every recipe.
_QUIET: ContextVar[bool] = ContextVar("mer_builder_quiet_downloads", default=False)


@contextmanager
def quiet_downloads(quiet: bool = True) -> Iterator[None]:
    """Within this block, `fetch` calls that do not pass `quiet` show no progress bar (when `quiet`)."""
    token = _QUIET.set(quiet)
    try:
        yield
    finally:
        _QUIET.reset(token)


class DownloadError(RunFailure):
    """A download or extraction that did not produce what was expected; the message names the file or URL."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, dest: Path, sha256: str | None = None, force: bool = False, quiet: bool | None = None) -> Path:
    """Download `url` to `dest`, resuming a `.part` file left by an interrupted run.

    `quiet=None` follows the enclosing `quiet_downloads` block (bars shown outside one).
    """
    dest = Path(dest)
    if dest.is_file() and not force:
        if sha256 and sha256_of(dest) != sha256:
            raise DownloadError(f"{dest}: exists but its SHA-256 does not match {sha256}; delete it or pass --force")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if force:
        part.unlink(missing_ok=True)
    _download_into(url, part, dest.name, _QUIET.get() if quiet is None else quiet)
    if sha256:
        actual = sha256_of(part)
        if actual != sha256:
            part.unlink()
            raise DownloadError(
                f"{url}: SHA-256 mismatch (expected {sha256}, got {actual}); the partial file was removed"
            )
    os.replace(part, dest)
    return dest


def _range_total(content_range: str | None) -> int | None:
    """The full size from `Content-Range: bytes a-b/N` or `bytes */N`, if the server says."""
    match = re.fullmatch(r"bytes (?:\d+-\d+|\*)/(\d+)", (content_range or "").strip())
    return int(match.group(1)) if match else None


def _range_start(content_range: str | None) -> int | None:
    match = re.fullmatch(r"bytes (\d+)-\d+/(?:\d+|\*)", (content_range or "").strip())
    return int(match.group(1)) if match else None


def _download_into(url: str, part: Path, label: str, quiet: bool) -> None:
    """Complete `part` from the server: resume it with a Range request, or start over when it cannot be a prefix."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            if _range_total(exc.headers.get("Content-Range")) == offset:
                return  # the .part already holds the whole file
            part.unlink()  # longer than the remote file: not a prefix of it
            return _download_into(url, part, label, quiet)
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{url}: cannot connect ({exc})") from None
    with response:
        resumed = response.status == 206
        if resumed and _range_start(response.headers.get("Content-Range")) != offset:
            part.unlink()  # the server sent some other range: start over rather than splice
            return _download_into(url, part, label, quiet)
        received = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = received + int(length) if length else None
        with (
            part.open("ab" if resumed else "wb") as out,
            tqdm(total=total, initial=received, unit="B", unit_scale=True, desc=label, disable=quiet) as bar,
        ):
            while True:
                try:
                    block = response.read(CHUNK)
                except (http.client.HTTPException, OSError) as exc:
                    raise DownloadError(
                        f"{url}: interrupted after {received} bytes ({exc}); run again to resume from {part}"
                    ) from None
                if not block:
                    break
                out.write(block)
                received += len(block)
                bar.update(len(block))
    if total is not None and received < total:
        raise DownloadError(f"{url}: interrupted after {received} of {total} bytes; run again to resume from {part}")


def _checked_target(root: Path, member_name: str, archive: Path) -> Path:
    pure = PurePosixPath(member_name.replace("\\", "/"))
    target = (root / pure).resolve()
    if pure.is_absolute() or ".." in pure.parts or not target.is_relative_to(root):
        raise DownloadError(f"{archive}: member {member_name!r} would be written outside {root}; refusing to extract")
    return target


def extract_archive(archive: Path, target: Path, force: bool = False) -> Path:
    """Unpack a zip or tar(.gz/.bz2/.xz) into `target` safely; skip when already completed."""
    archive, target = Path(archive), Path(target)
    marker = target / f"{COMPLETED_MARKER}.{archive.name}"
    if marker.exists() and not force:
        return target
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _checked_target(root, info.filename, archive)
                zf.extractall(root)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for member in members:
                    _checked_target(root, member.name, archive)
                    if not (member.isfile() or member.isdir()):
                        raise DownloadError(
                            f"{archive}: member {member.name!r} is a link or device; refusing to extract"
                        )
                for member in members:
                    destination = _checked_target(root, member.name, archive)
                    if member.isdir():
                        destination.mkdir(parents=True, exist_ok=True)
                        continue
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    source = tf.extractfile(member)
                    with source, destination.open("wb") as out:
                        shutil.copyfileobj(source, out, CHUNK)
        else:
            raise DownloadError(f"{archive}: not a zip or tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(f"{archive}: corrupt or truncated archive ({exc}); delete it and download again") from None
    marker.write_text("ok\n")
    return target
