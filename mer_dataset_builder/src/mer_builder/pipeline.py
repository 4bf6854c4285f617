"""The prepare stage: each corpus from its native layout to 16 kHz audio and manifest records.

Per corpus: `recipe.locate` -> `recipe.parse` -> record checks and duplicate ids ->
speaker-disjoint splits -> parallel audio normalisation -> `corpora/<CORPUS>.manifest.jsonl`
and `corpora/<CORPUS>.report.json`. After each corpus every per-corpus manifest in the output
folder is merged into `meta_manifest.jsonl`, with `stats.json` and `build_report.json`, so
preparing one corpus never loses the others already prepared there.

With `transcribe_missing`, utterances the corpus gives no transcript for are transcribed by
Whisper from their normalised audio (`mer.transcription`) and marked `transcript_source: "whisper"`
with a note naming the model; the corpus report counts them.

Output folder layout (all writes atomic; `.mer.lock` is held by the running builder, see `locking`):

    meta_manifest.jsonl  stats.json  build_report.json  .mer_builder  [.mer.lock]
    audio/<CORPUS>/<native_id>.wav
    corpora/<CORPUS>.manifest.jsonl  <CORPUS>.report.json  <CORPUS>.audio.jsonl (resume journal)
    corpora/transcripts/  (with transcribe_missing: Whisper transcripts cached by audio hash)
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from tqdm import tqdm

from . import __version__, recipes
from .audio import TARGET_SR
from .errors import InputError
from .fsutil import atomic_output, atomic_write_json
from .labels import EMOTIONS, LABEL_OF, POLICY_CHOICES, SENTIMENTS, LabelPolicy
from .locking import output_lock
from .manifest import CORPORA, MANIFEST_NAME, SPLITS, ManifestRecord, group_of, iter_manifest, write_manifest
from .normalise import (
    AUDIO_FAILURE_POLICIES,
    AudioJob,
    AudioJournal,
    AudioResult,
    journal_results,
    normalise_task,
    silence_seconds,
)
from .parallel import BACKENDS, Executor, cut_tasks, open_executor, task_size
from .recipes.common import CorpusError, ParseContext, Utterance
from .split_spec import CorpusSplit, SplitSpec
from .splits import assign_speaker_splits, assign_utterance_splits

OUTPUT_MARKER = ".mer_builder"
AUDIO_DIR = "audio"
CORPORA_DIR = "corpora"
STATS_NAME = "stats.json"
REPORT_NAME = "build_report.json"
MANIFEST_SUFFIX = ".manifest.jsonl"
REPORT_SUFFIX = ".report.json"
JOURNAL_SUFFIX = ".audio.jsonl"


class OutputDirError(InputError):
    """The output folder cannot be used without risking files the user made."""


@dataclass(frozen=True)
class BuildOptions:
    raw_dir: Path
    out_dir: Path
    policy: LabelPolicy = field(default_factory=LabelPolicy)
    audio_failure: str = "drop"
    num_workers: int = 1
    backend: str = "local"  # where audio tasks run: local, dask or ray (see mer_builder.parallel)
    scheduler: str | None = None  # a Dask scheduler address (else DASK_SCHEDULER_ADDRESS, else a LocalCluster)
    seed: int = 0
    force: bool = False
    continue_on_error: bool = False
    quiet: bool = False
    split_spec: SplitSpec = field(default_factory=SplitSpec)
    transcribe_missing: bool = False
    whisper: str | None = None  # None: mer.transcription's offline default

    def __post_init__(self) -> None:
        if self.audio_failure not in AUDIO_FAILURE_POLICIES:
            raise ValueError(f"--audio_failure must be one of {AUDIO_FAILURE_POLICIES}, got {self.audio_failure!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"--backend must be one of {BACKENDS}, got {self.backend!r}")


@dataclass
class CorpusOutcome:
    """What preparing one corpus did; `report` is what `corpora/<CORPUS>.report.json` holds."""

    corpus: str
    report: dict
    error: CorpusError | None = None  # what stopped the corpus, if anything

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def problems(self) -> list[dict]:
        return self.report["problems"]


def claim_out_dir(out_dir: Path) -> None:
    """Use `out_dir` only if it is new, empty, or an earlier build's output (it holds our marker)."""
    out_dir = Path(out_dir)
    if (out_dir / OUTPUT_MARKER).is_file():
        return
    if out_dir.exists():
        if not out_dir.is_dir():
            raise OutputDirError(f"{out_dir}: --out_dir exists and is not a folder")
        if any(out_dir.iterdir()):
            raise OutputDirError(
                f"{out_dir}: --out_dir is not empty and was not made by mer_builder (no {OUTPUT_MARKER} file); "
                "give a new or empty folder so nothing of yours is overwritten"
            )
    atomic_write_json(out_dir / OUTPUT_MARKER, {"created_by": "mer_builder", "version": __version__})


class Recipe(Protocol):
    """What the pipeline uses of a recipe module (see `recipes.common`); your own corpus can be one too."""

    CORPUS: str

    def locate(self, raw_dir: Path) -> Path: ...

    def parse(self, corpus_dir: Path, ctx: ParseContext) -> Iterator[Utterance]: ...


def prepare(names: Iterable[str | Recipe], options: BuildOptions) -> list[CorpusOutcome]:
    """Prepare each corpus (a CLI name or a recipe) in turn; a failure stops the run unless `continue_on_error`.

    The output folder is locked for the run (a second builder on it is refused, naming this one), and a
    corpus already built there with other record-shaping options is refused unless `force`.
    """
    claim_out_dir(options.out_dir)
    outcomes = []
    with output_lock(options.out_dir):
        chosen = [recipes.get_recipe(name) if isinstance(name, str) else name for name in names]
        for recipe in chosen:
            _refuse_changed_options(recipe, options)
        shared = {"inputs": {"--raw_dir": options.raw_dir}, "outputs": {"--out_dir": options.out_dir}}
        with open_executor(options.backend, options.num_workers, options.scheduler, **shared) as executor:
            for recipe in chosen:
                outcome = prepare_corpus(recipe, options, executor)
                outcomes.append(outcome)
                publish(options.out_dir)
                if outcome.error and not options.continue_on_error:
                    raise outcome.error
    return outcomes


def record_options(corpus: str, options: BuildOptions, seeded_splits: bool = True, cli_name: str | None = None) -> dict:
    """The options that decide what a corpus's records mean: its label policies, and the split seed and
    split spec (None when the corpus keeps official splits). (What `--audio_failure` does is named per file.)"""
    cli_name = cli_name or {display: name for name, display in CORPORA.items()}.get(corpus, "")
    policies = {flag: getattr(options.policy, flag) for flag in POLICY_CHOICES if flag.split("_")[0] == cli_name}
    split = options.split_spec.for_corpus(corpus, cli_name).describe() if seeded_splits else None
    return {**policies, "seed": options.seed if seeded_splits else None, "split_spec": split}


def _refuse_changed_options(recipe: Recipe, options: BuildOptions) -> None:
    """Rebuilding a corpus with other labels or splits would silently replace its records: say so instead."""
    corpus = recipe.CORPUS
    if options.force or not (_corpora_dir(options.out_dir) / f"{corpus}{MANIFEST_SUFFIX}").is_file():
        return
    before = _previous_report(options.out_dir, corpus).get("options") or {}
    now = record_options(corpus, options, cli_name=getattr(recipe, "NAME", None))
    changed = [key for key, value in before.items() if value is not None and now.get(key) != value]
    if changed:
        was = " ".join(f"--{key} {before[key]}" for key in changed)
        asks = " ".join(f"--{key} {now.get(key)}" for key in changed)
        raise OutputDirError(
            f"{options.out_dir}: {corpus} was built here with {was}, and this run asks for {asks}, which would "
            "replace its records; pass --force to rebuild it with the new options, or give another --out_dir"
        )


def _previous_report(out_dir: Path, corpus: str) -> dict:
    try:
        return json.loads((_corpora_dir(out_dir) / f"{corpus}{REPORT_SUFFIX}").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def prepare_corpus(name: str | Recipe, options: BuildOptions, executor: Executor) -> CorpusOutcome:
    """Run one corpus end to end; a `CorpusError` becomes a failed outcome with its report written."""
    recipe = recipes.get_recipe(name) if isinstance(name, str) else name
    corpus = recipe.CORPUS
    ctx = ParseContext(corpus=corpus, policy=options.policy, continue_on_error=options.continue_on_error)
    audio_failures: list[dict] = []
    # `options` describe the corpus's published records: a failed run leaves the earlier ones in place.
    report: dict = {
        "dataset": corpus,
        "status": "ok",
        "options": _previous_report(options.out_dir, corpus).get("options"),
    }
    error = None
    try:
        corpus_dir = recipe.locate(options.raw_dir)
        report.update(corpus_dir=str(corpus_dir), licence=getattr(recipe, "LICENCE", None))
        if getattr(recipe, "CARD", None):
            report["card"] = str(recipe.CARD)
        note = found_elsewhere_note(recipe, corpus_dir, options.raw_dir)
        if note:
            report["note"] = note
        utterances = _checked_utterances(recipe.parse(corpus_dir, ctx), ctx, options.quiet)
        report["languages"] = sorted({u.language for u in utterances})
        plan = _splits(utterances, corpus, getattr(recipe, "NAME", None), options)
        report["split"] = plan.report
        records, audio_counts = _normalise_corpus(utterances, plan, options, executor, ctx, audio_failures)
        if utterances and not records:
            raise _nothing_kept(corpus, len(utterances), audio_failures, options.audio_failure)
        if options.transcribe_missing:
            report["transcripts"] = transcribe_missing(records, options, corpus)
        write_manifest(records, _corpora_dir(options.out_dir) / f"{corpus}{MANIFEST_SUFFIX}")
        seeded = any(u.split is None for u in utterances)
        report["options"] = record_options(corpus, options, seeded, getattr(recipe, "NAME", None))
        report.update(
            parsed=len(utterances), records=len(records), audio=audio_counts,
            splits=dict(sorted(Counter(r.split for r in records).items())),
        )  # fmt: skip
    except CorpusError as exc:
        error = exc
        report.update(status="failed", error=exc.reason, file=exc.path)
    for entries in (ctx.drops, ctx.problems, audio_failures):  # workers finish in any order; the report does not
        entries.sort(key=lambda e: (e["file"], e["reason"]))
    report.update(drops=ctx.drops, problems=ctx.problems, audio_failures=audio_failures)
    atomic_write_json(_corpora_dir(options.out_dir) / f"{corpus}{REPORT_SUFFIX}", report)
    return CorpusOutcome(corpus, report, error)


def found_elsewhere_note(recipe: Recipe, corpus_dir: Path, raw_dir: Path) -> str | None:
    """A note when the corpus was found in the folder its archive unpacks to rather than `raw_dir/FOLDER`."""
    folder = getattr(recipe, "FOLDER", None)
    expected = Path(raw_dir) / folder if folder else None
    if expected is None or Path(corpus_dir) == expected:
        return None
    return f"found in {corpus_dir}, the folder its archive unpacks to (not {expected}); used as it is"


def _nothing_kept(corpus: str, parsed: int, audio_failures: list[dict], policy: str) -> CorpusError:
    """A corpus whose every utterance lost its audio is a failed build, not an empty success."""
    first = min(audio_failures, key=lambda e: e["file"], default={"file": None, "reason": "no audio"})
    return CorpusError(
        corpus,
        first["file"],
        f"{first['reason']}, and so did all {parsed} utterances: no record was kept (--audio_failure {policy}); "
        "put the media where the corpus layout expects it, or pass --audio_failure replace_with_silence "
        "to keep the records with silent audio (for text-only use)",
    )


def _corpora_dir(out_dir: Path) -> Path:
    return Path(out_dir) / CORPORA_DIR


def _utterance_problem(u: Utterance, corpus: str) -> str | None:
    """Why an utterance from a recipe cannot become a manifest record, or None."""
    native = PurePosixPath(u.native_id)
    if u.dataset != corpus:
        return f"recipe yielded dataset {u.dataset!r} inside corpus {corpus!r}"
    if not u.native_id or "\\" in u.native_id or native.is_absolute() or {"..", "."} & set(native.parts):
        return f"native id {u.native_id!r} is not a relative file name"
    if u.emotion not in LABEL_OF:
        return f"emotion {u.emotion!r} (raw label {u.raw_label!r}) is outside the label space {EMOTIONS}"
    if u.split is not None and u.split not in SPLITS:
        return f"preset split {u.split!r} is not one of {SPLITS}"
    if not u.speaker_id:
        return "no speaker id"
    return None


def _checked_utterances(parsed: Iterator[Utterance], ctx: ParseContext, quiet: bool) -> list[Utterance]:
    """Every usable utterance, sorted by id; broken ones and duplicate ids go to `ctx.problem`."""
    kept = []
    for u in tqdm(parsed, desc=f"{ctx.corpus}: parse", unit=" utt", disable=quiet):
        reason = _utterance_problem(u, ctx.corpus)
        if reason:
            ctx.problem(u.source, reason)
        else:
            kept.append(u)
    kept.sort(key=lambda u: (u.id, str(u.source)))
    unique: list[Utterance] = []
    for u in kept:
        if unique and unique[-1].id == u.id:
            ctx.problem(u.source, f"duplicate id {u.id!r} (also produced by {unique[-1].source})")
        else:
            unique.append(u)
    return unique


@dataclass
class SplitPlan:
    """Per utterance id: its split, how it was made (`split_by`) and its fold (folds only); the report's part."""

    split: dict[str, str] = field(default_factory=dict)
    split_by: dict[str, str] = field(default_factory=dict)
    fold: dict[str, str] = field(default_factory=dict)
    report: dict = field(default_factory=dict)

    def set(self, u: Utterance, split: str, how: str) -> None:
        self.split[u.id], self.split_by[u.id] = split, how


def _strata(utterances: list[Utterance]) -> dict[str, str | None]:
    """Speaker -> stratum: gender, plus language where the corpus has several, so val and test get both."""
    languages = {u.language for u in utterances}
    strata: dict[str, str | None] = {}
    for u in utterances:  # sorted by id: a speaker's first known gender wins, independent of file order
        if strata.get(u.speaker_id) is None:
            strata[u.speaker_id] = f"{u.gender}/{u.language}" if len(languages) > 1 else u.gender
    return strata


def _train_val(strata: dict[str, str | None], corpus: str, seed: int, ratios: tuple[float, float, float]) -> dict:
    """Train and val drawn from `strata`'s speakers at the train:val proportion of `ratios` (no test)."""
    total = ratios[0] + ratios[1]
    return assign_speaker_splits(strata, corpus, seed, (ratios[0] / total, ratios[1] / total, 0.0))


def _splits(utterances: list[Utterance], corpus: str, cli_name: str | None, options: BuildOptions) -> SplitPlan:
    """Splits: a recipe's preset (official) ones kept; the rest by `--split_spec` or speaker-disjoint seeded hash."""
    spec_file = options.split_spec.source
    spec = options.split_spec.for_corpus(corpus, cli_name)
    plan = SplitPlan(report={"ratios": list(spec.ratios)})
    for u in utterances:
        if u.split is not None:
            plan.set(u, u.split, "official")
    free = [u for u in utterances if u.split is None]
    strata = _strata(free)
    if spec.explicit:
        plan.report.update(spec=spec.describe(), spec_file=spec_file)
        _explicit_splits(plan, free, strata, spec, corpus, options.seed, spec_file)
    elif len(strata) == 1:
        (speaker,) = strata
        if spec.single_speaker == "utterances":
            chosen = assign_utterance_splits([u.id for u in free], corpus, options.seed, spec.ratios)
            for u in free:
                plan.set(u, chosen[u.id], "utterance")
            plan.report["warning"] = (
                f"one speaker ({speaker}): split by utterance, so train, val and test share that speaker and its "
                "test scores are speaker-dependent (`single_speaker: train_only` in --split_spec keeps it for training)"
            )
        else:
            for u in free:
                plan.set(u, "train", "speaker")
            plan.report["warning"] = (
                f"one speaker ({speaker}): train only, so it adds no val or test rows; a LOCO fold whose training "
                "corpora have no val rows is skipped"
            )
    else:
        by_speaker = assign_speaker_splits(strata, corpus, options.seed, spec.ratios)
        for u in free:
            plan.set(u, by_speaker[u.speaker_id], "speaker")
    plan.report["by"] = dict(sorted(Counter(plan.split_by.values()).items()))
    return plan


def _explicit_splits(
    plan: SplitPlan,
    free: list[Utterance],
    strata: dict[str, str | None],
    spec: CorpusSplit,
    corpus: str,
    seed: int,
    spec_file: str | None,
) -> None:
    """Speaker lists (test/val) or folds from the split spec; unlisted val is drawn from the training speakers."""
    where = f"--split_spec {spec_file}: corpora.{corpus}"
    present = set(strata)
    listed = set(spec.test) | set(spec.val) | {s for members in spec.folds.values() for s in members}
    absent = sorted(listed - present)
    if absent:
        plan.report["listed_but_absent"] = absent
    if spec.folds:
        fold_of = {s: name for name, members in spec.folds.items() for s in members}
        unlisted = sorted(present - set(fold_of))
        if unlisted:
            raise CorpusError(corpus, spec_file, f"{where}: speakers {unlisted} are in no fold")
        test = {s for s in present if fold_of[s] == spec.test_fold}
        val = {s for s in present if spec.val_fold and fold_of[s] == spec.val_fold}
    else:
        fold_of = {}
        test, val = set(spec.test) & present, set(spec.val) & present
    rest = {s: strata[s] for s in sorted(present - test - val)}
    val_given = spec.val_fold if spec.folds else spec.val
    drawn = {} if val_given else _train_val(rest, corpus, seed, spec.ratios)
    for u in free:
        speaker = u.speaker_id
        split = "test" if speaker in test else "val" if speaker in val else drawn.get(speaker, "train")
        plan.set(u, split, "spec")
        if speaker in fold_of:
            plan.fold[u.id] = fold_of[speaker]


def _normalise_corpus(
    utterances: list[Utterance],
    plan: SplitPlan,
    options: BuildOptions,
    executor: Executor,
    ctx: ParseContext,
    audio_failures: list[dict],
) -> tuple[list[ManifestRecord], dict[str, int]]:
    """Normalise every utterance's audio (reusing finished files) and build its manifest record.

    `audio_failures` is filled as failures arrive, so a failure that stops the corpus is still reported.
    """
    audio_dir = Path(options.out_dir).resolve() / AUDIO_DIR / ctx.corpus  # absolute: workers may run elsewhere
    replace = options.audio_failure == "replace_with_silence"
    counts = dict.fromkeys(("normalised", "reused", "replaced_with_silence", "dropped", "failed", "clipped"), 0)
    by_key = {u.native_id: u for u in utterances}
    records: list[ManifestRecord] = []
    with AudioJournal(_corpora_dir(options.out_dir) / f"{ctx.corpus}{JOURNAL_SUFFIX}") as journal:
        todo, reused = [], []
        for u in utterances:
            job = _job(u, audio_dir, silence_seconds(u.expected_duration_s) if replace else None)
            result = None if options.force else journal.reusable(job, allow_replaced=replace)
            if result:
                reused.append(result)
            else:
                todo.append(job)
        tasks = cut_tasks(todo, task_size(len(todo), executor.slots))
        fresh = journal_results(todo, journal, executor.map_tasks(normalise_task, tasks))
        with tqdm(total=len(utterances), desc=f"{ctx.corpus}: audio", unit=" file", disable=options.quiet) as bar:
            for result in itertools.chain(reused, fresh):
                bar.update(1)
                u = by_key[result.key]
                if result.reused:
                    counts["reused"] += 1
                elif result.ok and not result.replaced:
                    counts["normalised"] += 1
                if result.note:
                    counts["clipped"] += 1
                if result.error:
                    action = "replaced_with_silence" if result.replaced else _FAILURE_ACTION[options.audio_failure]
                    counts[action] += 1
                    audio_failures.append({"dataset": ctx.corpus, "file": str(u.source), "reason": result.error,
                                           "action": action})  # fmt: skip
                    if action == "failed":
                        ctx.problem(u.source, result.error)
                if result.ok:
                    records.append(_record(u, plan, result))
        journal.compact(by_key)
    return records, counts


def transcribe_missing(records: list[ManifestRecord], options: BuildOptions, corpus: str) -> dict[str, int]:
    """Give every record without a transcript Whisper's, in place; counts of what happened, for the report."""
    missing = [r for r in records if not r.text.strip()]
    counts = dict.fromkeys(("transcribed", "no_words", "unsupported_language"), 0)
    if not missing:
        return counts
    try:
        from mer.transcription import DEFAULT_WHISPER, Transcriber, TranscriptionError
    except ImportError as exc:
        raise CorpusError(corpus, None, f"--transcribe_missing needs the mer package (pip install .): {exc}") from None
    model = options.whisper or DEFAULT_WHISPER
    transcriber = Transcriber(model, cache_dir=_corpora_dir(options.out_dir) / "transcripts")
    for record in tqdm(missing, desc=f"{corpus}: transcribe", unit=" utt", disable=options.quiet):
        if not transcriber.supports(record.language):
            counts["unsupported_language"] += 1
            continue
        audio = Path(options.out_dir) / record.audio_path
        try:
            transcript = transcriber.transcribe_file(audio, record.language)
        except TranscriptionError as exc:
            raise CorpusError(corpus, None, f"--transcribe_missing: {exc}") from None
        if not transcript.text:
            counts["no_words"] += 1
            record.notes.append(f"no machine transcript: Whisper ({model}) heard no words")
            continue
        counts["transcribed"] += 1
        record.text, record.transcript_source = transcript.text, "whisper"
        record.notes.append(f"machine transcript by Whisper ({model})")
    return counts


_FAILURE_ACTION = {"error": "failed", "drop": "dropped", "replace_with_silence": "failed"}


def _job(u: Utterance, audio_dir: Path, silence_s: float | None) -> AudioJob:
    source = os.path.abspath(u.source)
    try:
        st = os.stat(source)
        size, mtime_ns = st.st_size, st.st_mtime_ns
    except OSError:
        size, mtime_ns = -1, -1  # the worker's decode reports the missing file like any other failure
    return AudioJob(u.native_id, source, str(audio_dir / f"{u.native_id}.wav"), size, mtime_ns, silence_s, u.segment)


def _record(u: Utterance, plan: SplitPlan, result: AudioResult) -> ManifestRecord:
    notes = list(u.notes)
    if result.note:
        notes.append(result.note)
    if result.replaced:
        notes.append(
            f"audio replaced with {result.duration_s:g} s of silence because the source could not be used: "
            f"{result.error}"
        )
    split = plan.split[u.id]
    return ManifestRecord(
        id=u.id, dataset=u.dataset, split=split, group=group_of(u.dataset, split), speaker_id=u.speaker_id,
        emotion=u.emotion, label=LABEL_OF[u.emotion], raw_label=u.raw_label, text=u.text,
        audio_path=f"{AUDIO_DIR}/{u.dataset}/{u.native_id}.wav", duration_s=result.duration_s,
        sample_rate=TARGET_SR, language=u.language, sentiment=u.sentiment, gender=u.gender,
        media_path=None if u.media_path is None else str(Path(u.media_path).resolve()), dialogue_id=u.dialogue_id,
        utterance_index=u.utterance_index, intensity=u.intensity, session=u.session,
        split_by=plan.split_by[u.id], fold=plan.fold.get(u.id), emotion_scores=u.emotion_scores,
        sentiment_score=u.sentiment_score, notes=notes,
    )  # fmt: skip


def prepared_corpora(out_dir: Path) -> dict[str, dict]:
    """Display name -> per-corpus report of every corpus prepared in `out_dir` (built-in or from a card)."""
    found = {}
    for path in sorted(_corpora_dir(out_dir).glob(f"*{REPORT_SUFFIX}")):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # validate names the records of a corpus it cannot vouch for
        if isinstance(report, dict) and isinstance(report.get("dataset"), str):
            found[report["dataset"]] = report
    return found


def publish(out_dir: Path) -> None:
    """Merge every per-corpus manifest into `meta_manifest.jsonl` (streamed, sorted by id) with its stats and report."""
    out_dir = Path(out_dir)
    corpora_dir = _corpora_dir(out_dir)
    manifests = sorted(corpora_dir.glob(f"*{MANIFEST_SUFFIX}"))
    stats = _StatsAccumulator()
    with atomic_output(out_dir / MANIFEST_NAME) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for record in heapq.merge(*(iter_manifest(path) for path in manifests), key=lambda r: r.id):
            handle.write(record.to_json() + "\n")
            stats.add(record)
    atomic_write_json(out_dir / STATS_NAME, stats.summary())
    reports = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(corpora_dir.glob(f"*{REPORT_SUFFIX}"))]
    atomic_write_json(out_dir / REPORT_NAME, build_report(reports))


def build_report(reports: list[dict]) -> dict:
    """Every drop, problem and audio failure of every corpus, sorted, with counts per reason."""
    lists = {kind: [] for kind in ("drops", "problems", "audio_failures")}
    corpora = {}
    for report in reports:
        for kind, entries in lists.items():
            entries.extend(report.get(kind, []))
        corpora[report["dataset"]] = {k: v for k, v in report.items() if k not in lists}
    for entries in lists.values():
        entries.sort(key=lambda e: (e["dataset"], e["file"], e["reason"]))
    counts = {kind: dict(sorted(Counter(e["reason"] for e in entries).items())) for kind, entries in lists.items()}
    return {"corpora": corpora, "counts_per_reason": counts, **lists}


class _StatsAccumulator:
    """Counts and durations per corpus x split x label, gathered while the manifest streams past."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
        self.sentiments: dict[tuple[str, str], Counter] = defaultdict(Counter)
        self.durations: dict[tuple[str, str], float] = defaultdict(float)
        self.speakers: dict[tuple[str, str], set] = defaultdict(set)

    def add(self, record: ManifestRecord) -> None:
        key = (record.dataset, record.split)
        self.counts[key][record.emotion] += 1
        if record.sentiment is not None:
            self.sentiments[key][record.sentiment] += 1
        self.durations[key] += record.duration_s
        self.speakers[key].add(record.speaker_id)

    def summary(self) -> dict:
        corpora: dict[str, dict] = {}
        for (dataset, split), labels in sorted(self.counts.items()):
            entry = corpora.setdefault(dataset, {"splits": {}})
            entry["splits"][split] = {
                "utterances": sum(labels.values()),
                "speakers": len(self.speakers[dataset, split]),
                "duration_s": round(self.durations[dataset, split], 3),
                "labels": {emotion: labels[emotion] for emotion in EMOTIONS},
            }
            if self.sentiments[dataset, split]:
                entry["splits"][split]["sentiments"] = {s: self.sentiments[dataset, split][s] for s in SENTIMENTS}
        for dataset, entry in corpora.items():
            splits = entry["splits"].values()
            speakers = set().union(*(self.speakers[dataset, s] for s in entry["splits"]))
            entry.update(
                utterances=sum(s["utterances"] for s in splits), speakers=len(speakers),
                duration_s=round(sum(s["duration_s"] for s in splits), 3),
                labels={e: sum(s["labels"][e] for s in splits) for e in EMOTIONS},
            )  # fmt: skip
            if any("sentiments" in s for s in splits):
                entry["sentiments"] = {c: sum(s.get("sentiments", {}).get(c, 0) for s in splits) for c in SENTIMENTS}
        total_s = sum(entry["duration_s"] for entry in corpora.values())
        return {
            "utterances": sum(entry["utterances"] for entry in corpora.values()),
            "duration_s": round(total_s, 3),
            "hours": round(total_s / 3600, 3),
            "corpora": corpora,
        }
