"""Audio normalisation: every source decoded to 16 kHz mono PCM16, in parallel, and resumable.

Each finished file is appended to a journal (one JSON line: source path, size, mtime, output
size, duration) as soon as its output has been renamed into place. A rerun reuses every file
whose source still has the recorded size and mtime and whose output is still there, so an
interrupted prepare resumes where it stopped and an unchanged corpus costs one `stat` per file.
A torn last line (the process killed mid-write) only costs that one file a redo.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import TARGET_SR, AudioDecodeError, load_audio, write_wav
from .fsutil import atomic_write_text

AUDIO_FAILURE_POLICIES: tuple[str, ...] = ("error", "drop", "replace_with_silence")
DEFAULT_SILENCE_S = 1.0


@dataclass(frozen=True, slots=True)
class AudioJob:
    key: str
    source: str
    dest: str
    size: int
    mtime_ns: int
    silence_s: float | None  # seconds of silence to write if decoding fails; None reports the failure instead
    segment: tuple[float, float] | None = None  # (start, end) seconds of the source to keep; None = all


@dataclass(frozen=True, slots=True)
class AudioResult:
    key: str
    duration_s: float | None  # None: nothing was written
    wav_size: int
    error: str | None  # why the source could not be decoded (without the path), also set when replaced
    replaced: bool = False
    reused: bool = False
    note: str | None = None  # what was changed to fit PCM16 (samples above full scale clipped), for the record

    @property
    def ok(self) -> bool:
        return self.duration_s is not None


def duration_of(n_samples: int, sr: int = TARGET_SR) -> float:
    return round(n_samples / sr, 4)


def decode_reason(exc: AudioDecodeError, source: str) -> str:
    """The decode error's message without the leading path (the report keeps the path separately)."""
    return str(exc).removeprefix(f"{source}: ")


def _cut(samples: np.ndarray, source: str, start: float, end: float) -> np.ndarray:
    """The [start, end) seconds of `samples` (a start before 0 is read from 0, as MOSEI intervals can be)."""
    piece = samples[max(0, round(start * TARGET_SR)) : max(0, round(end * TARGET_SR))]
    if piece.size == 0:
        raise AudioDecodeError(f"{source}: segment [{start}, {end}] s is outside its {len(samples) / TARGET_SR:.2f} s")
    return piece


def clipping_note(samples: np.ndarray) -> str | None:
    """Say how many samples lie beyond full scale (float sources above 1.0, resampling overshoot of
    clipped recordings): PCM16 cannot hold them, so they are clipped, and the record should say so."""
    over = int(np.count_nonzero(np.abs(samples) > 1.0))
    if not over:
        return None
    peak = float(np.abs(samples).max())
    return f"{over} of {len(samples)} samples above full scale (peak {peak:.3g}) were clipped to [-1, 1]"


def silence_seconds(expected_s: float | None) -> float:
    """Length of the silence that replaces unusable audio: the stated duration when it is a real length."""
    return expected_s if expected_s is not None and expected_s >= 1 / TARGET_SR else DEFAULT_SILENCE_S


def normalise_one(job: AudioJob) -> AudioResult:
    """Decode, downmix and resample one source into its 16 kHz PCM16 wav (runs in a worker)."""
    try:
        samples, _ = load_audio(job.source, TARGET_SR)
        if job.segment is not None:
            samples = _cut(samples, job.source, *job.segment)
        error = None
    except AudioDecodeError as exc:
        if job.silence_s is None:
            return AudioResult(job.key, None, 0, decode_reason(exc, job.source))
        samples, error = np.zeros(round(job.silence_s * TARGET_SR), np.float32), decode_reason(exc, job.source)
    try:
        write_wav(Path(job.dest), samples, TARGET_SR)
    except OSError as exc:  # a full disk or a read-only folder: name the file, keep the errno for the message
        raise OSError(exc.errno, exc.strerror or str(exc), job.dest) from exc
    except Exception as exc:
        raise OSError(f"{job.dest}: cannot write the normalised audio ({type(exc).__name__}: {exc})") from exc
    return AudioResult(
        job.key, duration_of(len(samples)), os.path.getsize(job.dest), error, replaced=error is not None,
        note=clipping_note(samples),
    )  # fmt: skip


@dataclass
class TaskResults:
    """What one task of `normalise_task` did: the files it finished, and the write error that stopped it
    (returned, not raised, so the files finished before it are journaled and kept on a rerun)."""

    results: list[AudioResult]
    failure: OSError | None = None


def normalise_task(jobs: list[AudioJob]) -> TaskResults:
    """One task for an executor: a group of files normalised one after the other."""
    done: list[AudioResult] = []
    for job in jobs:
        try:
            done.append(normalise_one(job))
        except OSError as exc:  # a full disk, a read-only folder: the run stops after journaling `done`
            return TaskResults(done, exc)
    return TaskResults(done)


class AudioJournal:
    """What has been normalised for one corpus, keyed by native id; appended as files finish."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.entries: dict[str, dict] = {}
        if self.path.is_file():
            with self.path.open(encoding="utf-8") as handle:
                for line in handle:
                    try:
                        entry = json.loads(line)
                        self.entries[entry["key"]] = entry
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue  # a line torn by an interruption: that file is simply redone
        self._handle = None

    def reusable(self, job: AudioJob, allow_replaced: bool) -> AudioResult | None:
        """The recorded result for `job` if its source is unchanged and its output still there."""
        entry = self.entries.get(job.key)
        if not entry or (entry["source"], entry["size"], entry["mtime_ns"]) != (job.source, job.size, job.mtime_ns):
            return None
        if entry.get("segment") != (list(job.segment) if job.segment else None):
            return None
        if entry.get("error") and not allow_replaced:
            return None
        try:
            if os.path.getsize(job.dest) != entry["wav_size"]:
                return None
        except OSError:
            return None
        return AudioResult(
            job.key, entry["duration_s"], entry["wav_size"], entry.get("error"), replaced=bool(entry.get("error")),
            reused=True, note=entry.get("note"),
        )  # fmt: skip

    def record(self, job: AudioJob, result: AudioResult) -> None:
        entry = {"key": job.key, "source": job.source, "size": job.size, "mtime_ns": job.mtime_ns,
                 "wav_size": result.wav_size, "duration_s": result.duration_s}  # fmt: skip
        if job.segment:
            entry["segment"] = list(job.segment)
        if result.error:
            entry["error"] = result.error
        if result.note:
            entry["note"] = result.note
        self.entries[job.key] = entry
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._handle.flush()

    def compact(self, keys: Iterable[str]) -> None:
        """Rewrite the journal with one line per kept key, sorted (drops superseded lines)."""
        self.close()
        kept = sorted(set(keys) & set(self.entries))
        atomic_write_text(self.path, "".join(json.dumps(self.entries[k], ensure_ascii=False) + "\n" for k in kept))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> AudioJournal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def journal_results(jobs: list[AudioJob], journal: AudioJournal, tasks: Iterable[TaskResults]) -> Iterator[AudioResult]:
    """Pass the results of finished tasks through one by one, journaling every file a task wrote the moment
    the task arrives (before the caller sees any of them: if it stops at a failure, nothing written is lost);
    a task's write error is raised once the files it finished first are journaled."""
    by_key = {job.key: job for job in jobs}
    for task in tasks:
        for result in task.results:
            job = by_key.pop(result.key)
            if result.ok:
                journal.record(job, result)
        if task.failure is not None:
            raise task.failure
        yield from task.results
