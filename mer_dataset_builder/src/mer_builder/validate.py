"""The `validate` and `integrity` checks: what must hold before anything trains on the manifest.

`validate` reads the manifest only (schema, label space, ids, order, speaker-disjoint splits
except where `split_by` says official or utterance-level, audio files present); `integrity`
decodes every audio file and checks it is what the manifest says (16 kHz mono PCM16 of the
recorded duration). Both collect every issue rather than stopping at the first, and summarise
counts per corpus x split.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from .audio import TARGET_SR
from .manifest import CORPORA, MANIFEST_NAME, SPEAKER_SHARING_SPLITS, SPLITS, ManifestRecord, scan_manifest
from .parallel import LocalExecutor, cut_tasks, task_size
from .pipeline import CORPORA_DIR, REPORT_SUFFIX, prepared_corpora

DURATION_TOLERANCE_S = 0.002
MAX_LISTED_ISSUES = 20


@dataclass(frozen=True)
class Issue:
    dataset: str
    split: str | None
    where: str  # the record id, or manifest:line for a line that is not a record
    message: str

    def __str__(self) -> str:
        return f"[{self.dataset}] {self.where}: {self.message}"


@dataclass
class _Cell:
    utterances: int = 0
    duration_s: float = 0.0
    speakers: set = field(default_factory=set)
    failures: int = 0


@dataclass
class CheckResult:
    """Every issue found by one check, with the per corpus x split summary."""

    check: str
    issues: list[Issue] = field(default_factory=list)
    cells: dict[tuple[str, str], _Cell] = field(default_factory=lambda: defaultdict(_Cell))

    @property
    def ok(self) -> bool:
        return not self.issues

    def count(self, record: ManifestRecord) -> None:
        cell = self.cells[record.dataset, record.split]
        cell.utterances += 1
        cell.duration_s += record.duration_s
        cell.speakers.add(record.speaker_id)

    def fail(self, dataset: str, split: str | None, where: str, message: str) -> None:
        self.issues.append(Issue(dataset, split, where, message))
        self.cells[dataset, split or "-"].failures += 1

    def summary(self) -> str:
        """A table of utterances, speakers, hours and failures per corpus x split, then the issues."""
        header = ("corpus", "split", "utterances", "speakers", "hours", "failures")
        split_order = {name: i for i, name in enumerate((*SPLITS, "-"))}
        rows = [
            (dataset, split, str(c.utterances), str(len(c.speakers)), f"{c.duration_s / 3600:.3f}", str(c.failures))
            for (dataset, split), c in sorted(self.cells.items(), key=lambda kv: (kv[0][0], split_order[kv[0][1]]))
        ]
        speakers = {(d, s) for (d, _), c in self.cells.items() for s in c.speakers}
        cells = self.cells.values()
        rows.append(("total", "", str(sum(c.utterances for c in cells)), str(len(speakers)),
                     f"{sum(c.duration_s for c in cells) / 3600:.3f}", str(len(self.issues))))  # fmt: skip
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(value.ljust(widths[i]) if i < 2 else value.rjust(widths[i]) for i, value in enumerate(row))
            for row in [header, *rows]
        ]
        lines += [f"  {issue}" for issue in self.issues[:MAX_LISTED_ISSUES]]
        if len(self.issues) > MAX_LISTED_ISSUES:
            lines.append(f"  ... and {len(self.issues) - MAX_LISTED_ISSUES} more")
        verdict = "OK" if self.ok else f"FAILED ({len(self.issues)} issue{'s' * (len(self.issues) != 1)})"
        lines.append(f"{self.check}: {verdict}")
        return "\n".join(lines)


def _records(out_dir: Path, datasets: Iterable[str] | None, result: CheckResult) -> Iterator[ManifestRecord]:
    """Each record of the selected corpora that the manifest reader finds nothing wrong with; what it
    finds wrong becomes an issue (named by record id and line, or by line when it is no record)."""
    wanted = None if datasets is None else set(datasets)
    for number, record, issues in scan_manifest(Path(out_dir) / MANIFEST_NAME):
        if record is None:
            for issue in issues:
                result.fail("manifest", None, f"{MANIFEST_NAME}:{number}", issue.message)
        elif wanted is None or record.dataset in wanted:
            result.count(record)
            for issue in issues:
                result.fail(record.dataset, record.split, record.id, f"line {number}: {issue.message}")
            if not issues:
                yield record


def _why_absent(out_dir: Path, dataset: str) -> str:
    """Why a corpus has no records: never prepared here, or its last prepare failed (the report says why)."""
    report_path = out_dir / CORPORA_DIR / f"{dataset}{REPORT_SUFFIX}"
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no records; prepare this corpus first"
    if report.get("status") == "failed":
        return f"no records: its last prepare failed ({report.get('error')}; see {report_path})"
    return f"no records: its last prepare kept none (see {report_path})"


def _require_present(result: CheckResult, datasets: tuple[str, ...] | None, out_dir: Path) -> None:
    """Every requested corpus has records (and, when none was named, the manifest has some)."""
    present = {dataset for (dataset, _), cell in result.cells.items() if cell.utterances}
    for dataset in sorted(set(datasets or ()) - present):
        result.fail(dataset, None, MANIFEST_NAME, _why_absent(out_dir, dataset))
    if datasets is None and not present:
        result.fail("manifest", None, MANIFEST_NAME, "no records; prepare a corpus first")


def validate(out_dir: Path, datasets: Iterable[str] | None = None) -> CheckResult:
    """Manifest-level checks of the corpora `datasets` (display names; None = all present)."""
    out_dir, datasets = Path(out_dir), None if datasets is None else tuple(datasets)
    result = CheckResult("validate")
    previous_id = ""
    speaker_splits: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    known = set(CORPORA.values()) | set(prepared_corpora(out_dir))  # built-in, or prepared here from a card
    for record in _records(out_dir, datasets, result):
        dataset, split = record.dataset, record.split
        problems = []
        if dataset not in known:
            problems.append(f"dataset {dataset!r} is neither a built-in corpus nor one prepared here ({sorted(known)})")
        if record.id < previous_id:
            problems.append(f"out of order: the manifest must be sorted by id (follows {previous_id!r})")
        previous_id = max(previous_id, record.id)
        if record.sample_rate != TARGET_SR:
            problems.append(f"sample_rate {record.sample_rate}, expected {TARGET_SR}")
        if not (out_dir / record.audio_path).is_file():
            problems.append(f"audio file missing: {out_dir / record.audio_path}")
        for problem in problems:
            result.fail(dataset, split, record.id, problem)
        if split in SPLITS and record.split_by not in SPEAKER_SHARING_SPLITS:
            speaker_splits[dataset][record.speaker_id].add(split)
    for dataset, speakers in sorted(speaker_splits.items()):
        for speaker, splits in sorted(speakers.items()):
            if len(splits) > 1:
                ordered = [s for s in SPLITS if s in splits]
                result.fail(dataset, ordered[-1], f"speaker {speaker}", f"appears in splits {', '.join(ordered)}")
    _require_present(result, datasets, out_dir)
    return result


@dataclass(frozen=True)
class _AudioCheck:
    id: str
    dataset: str
    split: str
    path: str
    duration_s: float


def check_audio_file(item: _AudioCheck) -> tuple[_AudioCheck, str | None]:
    """Decode one output wav and say what is wrong with it, if anything (runs in a worker)."""
    try:
        info = sf.info(item.path)
        samples, sr = sf.read(item.path, dtype="int16", always_2d=True)
    except Exception as exc:  # libsndfile raises several types; all mean the file is unusable
        reason = "file missing" if not Path(item.path).is_file() else f"cannot decode ({type(exc).__name__}: {exc})"
        return item, f"{item.path}: {reason}"
    wrong = []
    if sr != TARGET_SR:
        wrong.append(f"sample rate {sr} Hz, expected {TARGET_SR}")
    if samples.shape[1] != 1:
        wrong.append(f"{samples.shape[1]} channels, expected mono")
    if info.subtype != "PCM_16":
        wrong.append(f"sample format {info.subtype}, expected PCM_16")
    duration = samples.shape[0] / sr if sr else 0.0
    if samples.shape[0] == 0:
        wrong.append("no samples")
    elif abs(duration - item.duration_s) > DURATION_TOLERANCE_S:
        wrong.append(f"decodes to {duration:.4f} s, the manifest says {item.duration_s} s")
    return item, (f"{item.path}: {'; '.join(wrong)}" if wrong else None)


def check_audio_files(items: list[_AudioCheck]) -> list[tuple[_AudioCheck, str | None]]:
    """One task: a group of files checked one after the other."""
    return [check_audio_file(item) for item in items]


def integrity(
    out_dir: Path, datasets: Iterable[str] | None = None, num_workers: int = 1, quiet: bool = False
) -> CheckResult:
    """Decode every audio file the manifest lists (for `datasets`, None = all) and check it matches."""
    out_dir, datasets = Path(out_dir), None if datasets is None else tuple(datasets)
    result = CheckResult("integrity")
    items = []
    for record in _records(out_dir, datasets, result):
        items.append(_AudioCheck(record.id, record.dataset, record.split, str(out_dir / record.audio_path),
                                 record.duration_s))  # fmt: skip
    with LocalExecutor(num_workers) as executor:
        tasks = cut_tasks(items, task_size(len(items), executor.slots))
        checked = itertools.chain.from_iterable(executor.map_tasks(check_audio_files, tasks))
        for item, problem in tqdm(checked, total=len(items), desc="integrity", unit=" file", disable=quiet):
            if problem:
                result.fail(item.dataset, item.split, item.id, problem)
    result.issues.sort(key=lambda issue: (issue.dataset, issue.where))
    _require_present(result, datasets, out_dir)
    return result
