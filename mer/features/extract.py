"""The resumable, parallel runner: manifest in, one pickle per utterance plus index and report out.

Layout written under the output dir F (see docs/features.md):

* `F/<group>/<id>.pkl` (group = train, val, testA or testB; the id's `/` makes a corpus folder),
  a dict with the manifest meta, `audio_features`, `text_features` (+ `video_features` and
  `video_face_frames`), the `config_hash` of the config that made it and the `input_hash`
  of what it was made from;
* `F/<group>/index.jsonl`: one line per row (`path` relative to the group dir + meta), written
  only when the run succeeds, so its presence means the group is complete;
* `F/feature_info.json`: config, config_hash, dims, counts, failures, timing, status.

Work goes out in chunks of `chunk_size` utterances (so MFCCs and model inputs are batched), one
chunk per task, to a local process pool, a Dask cluster or a Ray cluster (`mer_builder.parallel`);
each worker builds the pipeline once and writes its pickles itself, atomically, so memory stays
flat and an interrupted run resumes where it stopped, on any backend: a pickle whose config hash
and input hash (manifest fields, transcript, context, audio/video file size and mtime) match is
skipped. Chunks are cut the same way whatever the backend, so the pickles are byte-identical.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from mer_builder.audio import AudioDecodeError
from mer_builder.errors import RunFailure
from mer_builder.fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text
from mer_builder.locking import output_lock
from mer_builder.manifest import GROUPS, MANIFEST_NAME, ManifestRecord, read_manifest
from mer_builder.parallel import BACKENDS, cut_tasks, default_num_workers, open_executor

from .. import __version__
from .config import FeatureConfig
from .isolation import isolated, vector_problem
from .pipeline import FeaturePipeline
from .safe_pickle import safe_load
from .store import FEATURE_INFO, FEATURE_KEYS, FRAME_KEYS, META_FIELDS, PICKLE_INDEX
from .text import Turn, dialogue_contexts

PICKLE_PROTOCOL = 4
FAILURE_REASONS: dict[str, str] = {
    "missing_audio": "the audio file does not exist",
    "undecodable_audio": "the audio file exists but cannot be decoded",
    "missing_media": "the record's media_path does not exist",
    "undecodable_media": "the media file's video cannot be decoded",
    "non_finite_features": "a feature vector contains NaN or inf",
    "dimension_mismatch": "a feature vector has a different width from the others",
    "extraction_error": "the extractor raised an error on this utterance",
}


class ExtractionError(RunFailure, RuntimeError):
    """The run as a whole cannot proceed or did not succeed (the message says why and what to do)."""


@dataclass(frozen=True)
class WorkItem:
    id: str
    pickle_path: str
    audio_path: str
    media_path: str | None
    text: str
    speaker: str | None
    context: tuple[Turn, ...]
    meta: dict[str, Any]
    audio_ref: str = ""  # the paths as the manifest records them (audio relative to the processed dir)
    media_ref: str | None = None
    duration_s: float = 0.0


@dataclass(frozen=True)
class Outcome:
    id: str
    group: str
    status: str  # extracted | skipped | failed
    reason: str | None = None
    file: str | None = None
    message: str | None = None
    face_frames: int | None = None


@dataclass(frozen=True)
class RunOptions:
    groups: tuple[str, ...] = GROUPS
    num_workers: int = 1  # -1: every CPU
    backend: str = "local"  # local, dask or ray (mer_builder.parallel)
    scheduler: str | None = None  # Dask scheduler address; else DASK_SCHEDULER_ADDRESS, else a LocalCluster
    chunk_size: int = 64
    force: bool = False
    quiet: bool = False
    max_failure_rate: float = 0.01
    device: str = "cpu"
    batch_size: int = 16
    runtime: dict[str, Any] = field(default_factory=dict)  # extra facts for the report (e.g. the command)


# ---------------------------------------------------------------- worker side


_PIPELINES: dict[tuple[str, str, int], FeaturePipeline] = {}


def _pipeline(config: dict[str, Any], device: str, batch_size: int) -> FeaturePipeline:
    """One pipeline per worker process, reused across its chunks (models load once)."""
    key = (json.dumps(config, sort_keys=True), device, batch_size)
    if key not in _PIPELINES:
        _PIPELINES.clear()
        _PIPELINES[key] = FeaturePipeline.from_config(config, device, batch_size)
    return _PIPELINES[key]


FINGERPRINT_BYTES = 1 << 20  # a file's fingerprint reads at most its first and last MiB


def file_fingerprint(path: str | None) -> list | None:
    """Size and sha256 of the content (files up to 2 MiB whole, larger ones their first and last MiB).

    Content, not path or mtime: a processed folder copied or moved elsewhere keeps the same
    fingerprints, while a re-normalised wav or a re-encoded video changes them.
    """
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            digest = hashlib.sha256(handle.read(FINGERPRINT_BYTES))
            if size > FINGERPRINT_BYTES:
                handle.seek(max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES))
                digest.update(handle.read())
    except OSError:
        return None
    return [size, digest.hexdigest()]


def input_hash(item: WorkItem) -> str:
    """What the pickle was made from: meta, transcript, speaker, context, the media paths as the manifest
    records them (audio relative to the processed dir) and the media files' content fingerprints.

    A rebuilt manifest (a fixed transcript, a relabelled clip, a re-normalised wav) changes it, so
    resuming never keeps features or labels made from inputs that are gone; moving or copying the
    processed dir does not, so its features stay reusable.
    """
    facts = [item.meta, item.text, item.speaker, item.context, item.audio_ref, file_fingerprint(item.audio_path),
             item.media_ref, file_fingerprint(item.media_path)]  # fmt: skip
    return hashlib.sha256(json.dumps(facts, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _existing(path: Path, pipeline: FeaturePipeline, inputs: str) -> dict | None:
    """The pickle at `path` if it is complete and made by this config from these inputs, else None."""
    if not path.is_file():
        return None
    try:
        record = safe_load(path)
    except Exception:  # unreadable or refused (not plain data): never trusted, replaced by a fresh one
        return None
    ok = (
        isinstance(record, dict)
        and record.get("config_hash") == pipeline.config_hash
        and record.get("input_hash") == inputs
    )
    complete = all(FEATURE_KEYS[m] in record for m in pipeline.dims) and all(
        FRAME_KEYS[m] in record for m in pipeline.frame_dims
    )
    return record if ok and complete else None


def _failure(item: WorkItem, group: str, reason: str, file: str | None, message: str) -> Outcome:
    """The file goes in its own field; decoders' messages start with it, so it is not repeated."""
    return Outcome(item.id, group, "failed", reason, file, message.removeprefix(f"{file}: ") if file else message)


def _error_outcome(item: WorkItem, group: str, exc: Exception) -> Outcome:
    from .video import MissingMediaError, VideoDecodeError

    if isinstance(exc, MissingMediaError):
        return _failure(item, group, "missing_media", item.media_path, str(exc))
    if isinstance(exc, VideoDecodeError):
        return _failure(item, group, "undecodable_media", item.media_path, str(exc))
    return _failure(item, group, "extraction_error", item.audio_path, f"{type(exc).__name__}: {exc}")


def extract_chunk(
    config: dict[str, Any], device: str, batch_size: int, items: Sequence[WorkItem], force: bool
) -> list[Outcome]:
    """Extract and write one chunk of utterances (one task: runs in a worker of the chosen backend)."""
    pipeline = _pipeline(config, device, batch_size)
    outcomes: dict[str, Outcome] = {}
    loaded: list[tuple[WorkItem, np.ndarray | None]] = []
    fingerprints = {item.id: input_hash(item) for item in items}
    for item in items:
        group = item.meta["group"]
        existing = None if force else _existing(Path(item.pickle_path), pipeline, fingerprints[item.id])
        if existing is not None:
            outcomes[item.id] = Outcome(item.id, group, "skipped", face_frames=existing.get("video_face_frames"))
        elif "audio" not in pipeline.dims:  # audio set to none: the clip is never decoded
            loaded.append((item, None))
        else:
            try:
                loaded.append((item, pipeline.load_waveform(item.audio_path)))
            except AudioDecodeError as exc:
                reason = "undecodable_audio" if Path(item.audio_path).is_file() else "missing_audio"
                outcomes[item.id] = _failure(item, group, reason, item.audio_path, str(exc))
    if loaded:
        work = [it for it, _ in loaded]
        columns = {}
        if "audio" in pipeline.dims:
            columns["audio"] = isolated(lambda xs: _audio_column(pipeline, xs), [w for _, w in loaded])
        if "text" in pipeline.dims:
            columns["text"] = isolated(lambda xs: _text_column(pipeline, xs), work)
        if "video" in pipeline.dims:
            columns["video"] = isolated(lambda xs: _video_column(pipeline, xs), [it.media_path for it in work])
        for row, item in enumerate(work):
            values = {name: column[row] for name, column in columns.items()}
            outcomes[item.id] = _write(item, values, pipeline, fingerprints[item.id])
    return [outcomes[item.id] for item in items]


def _audio_column(pipeline: FeaturePipeline, waveforms: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(vector, frames or None) per clip: one encoder pass gives both when the config keeps frames."""
    if "audio" not in pipeline.frame_dims:
        return [(vector, None) for vector in pipeline.audio_features(waveforms)]
    vectors, frames = pipeline.audio_features_and_frames(waveforms)
    return list(zip(vectors, frames or [], strict=True))


def _text_column(pipeline: FeaturePipeline, items: list[WorkItem]) -> Any:
    """The text vectors, or (vector, token states) per utterance when the config keeps them."""
    texts, speakers, contexts = [x.text for x in items], [x.speaker for x in items], [x.context for x in items]
    if "text" not in pipeline.frame_dims:
        return pipeline.text_features(texts, speakers, contexts)
    vectors, frames = pipeline.text_features_and_frames(texts, speakers, contexts)
    return list(zip(vectors, frames or [], strict=True))


def _video_column(pipeline: FeaturePipeline, paths: list[str | None]) -> list[tuple[np.ndarray, int | None]]:
    result = pipeline.video_features(paths)
    return list(zip(result.vectors, result.face_frames, strict=True))


def _write(item: WorkItem, values: dict[str, Any], pipeline: FeaturePipeline, inputs: str) -> Outcome:
    group = item.meta["group"]
    errors = [v for v in values.values() if isinstance(v, Exception)]
    if errors:
        return _error_outcome(item, group, errors[0])
    face_frames = None
    if "video" in values:
        values["video"], face_frames = values["video"]
    frames = {}
    if "audio" in values:
        values["audio"], audio_frames = values["audio"]
        if audio_frames is not None:
            frames["audio"] = np.asarray(audio_frames, dtype=np.float32)
    if "text" in pipeline.frame_dims and "text" in values:
        values["text"], text_frames = values["text"]
        frames["text"] = np.asarray(text_frames, dtype=np.float32)
    vectors = {name: np.asarray(v, dtype=np.float32) for name, v in values.items()}
    problem = next((p for n, v in vectors.items() if (p := vector_problem(n, v, pipeline.dims[n]))), None)
    if problem is not None:
        return _failure(item, group, problem[0], item.audio_path, problem[1])
    for name, f in frames.items():
        if f.ndim != 2 or f.shape[1] != pipeline.frame_dims[name]:
            message = f"{name} frames have shape {f.shape}, expected (T, {pipeline.frame_dims[name]})"
            return _failure(item, group, "dimension_mismatch", item.audio_path, message)
        if not np.all(np.isfinite(f)):
            return _failure(item, group, "non_finite_features", item.audio_path, f"{name} frames contain NaN or inf")
    record = {**item.meta, **{FEATURE_KEYS[name]: v for name, v in vectors.items()}}
    record.update({FRAME_KEYS[name]: f for name, f in frames.items()})
    if "video" in vectors:
        record["video_face_frames"] = face_frames
    record["config_hash"] = pipeline.config_hash
    record["input_hash"] = inputs
    atomic_write_bytes(Path(item.pickle_path), pickle.dumps(record, protocol=PICKLE_PROTOCOL))
    return Outcome(item.id, group, "extracted", face_frames=face_frames)


# ---------------------------------------------------------------- main process


def pickle_relpath(record_id: str) -> str:
    """`<id>.pkl` relative to the group dir; ids are `<CORPUS>/<native id>`, never absolute or escaping."""
    parts = PurePosixPath(record_id).parts
    if not parts or record_id.startswith("/") or "\\" in record_id or any(p in ("", ".", "..") for p in parts):
        raise ExtractionError(f"manifest id {record_id!r} cannot be used as a file path (expected <CORPUS>/<name>)")
    return f"{record_id}.pkl"


def _meta(record: ManifestRecord) -> dict[str, Any]:
    meta = {
        "id": record.id,
        "dataset": record.dataset,
        "split": record.split,
        "group": record.group,
        "speaker_id": record.speaker_id,
        "emotion": record.emotion,
        "true_label": record.label,
    }
    for name in ("sentiment", "session", "dialogue_id", "utterance_index"):
        if getattr(record, name) is not None:
            meta[name] = getattr(record, name)
    meta["notes"] = list(record.notes)
    return meta


def _resolve(processed_dir: Path, path: str | None) -> str | None:
    """Absolute paths as they are; relative ones under the processed dir, else under the current
    directory (a builder run with a relative --raw_dir records source media relative to where it ran)."""
    if path is None:
        return None
    if Path(path).is_absolute():
        return path
    under_processed = processed_dir / path
    return str(under_processed if under_processed.exists() or not Path(path).exists() else Path(path).resolve())


def _work_items(
    records: list[ManifestRecord], processed_dir: Path, out_dir: Path, contexts: dict[str, tuple[Turn, ...]]
) -> list[WorkItem]:
    return [
        WorkItem(
            id=r.id,
            pickle_path=str(out_dir / r.group / pickle_relpath(r.id)),
            audio_path=str(processed_dir / r.audio_path),  # checked: relative, inside the processed dir
            media_path=_resolve(processed_dir, r.media_path),
            text=r.text,
            speaker=r.speaker_id,
            context=contexts.get(r.id, ()),
            meta=_meta(r),
            audio_ref=r.audio_path,
            media_ref=r.media_path,
            duration_s=r.duration_s,
        )
        for r in records
    ]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _by_duration(items: list[WorkItem]) -> list[WorkItem]:
    """Clips sorted by duration, so each task's batch holds clips of similar length and pads little."""
    return sorted(items, key=lambda item: item.duration_s)


def _versions() -> dict[str, str]:
    out = {"mer": __version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    for name in ("torch", "transformers", "sklearn", "scipy"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = getattr(module, "__version__", "?")
    return out


def _write_indexes(out_dir: Path, groups: Sequence[str], items: list[WorkItem], outcomes: dict[str, Outcome]) -> None:
    for group in groups:
        rows = [
            {"path": pickle_relpath(item.id), **{k: item.meta[k] for k in META_FIELDS if k in item.meta}}
            for item in items
            if item.meta["group"] == group and outcomes[item.id].status != "failed"
        ]
        if rows:
            text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            atomic_write_text(out_dir / group / PICKLE_INDEX, text)


def run_extraction(
    processed_dir: Path | str, out_dir: Path | str, config: FeatureConfig, options: RunOptions | None = None
) -> dict[str, Any]:
    """Extract features for the selected groups of the manifest; returns what `feature_info.json` holds."""
    options = options or RunOptions()
    processed_dir, out_dir = Path(processed_dir).resolve(), Path(out_dir).resolve()
    unknown = sorted(set(options.groups) - set(GROUPS))
    if unknown:
        raise ExtractionError(f"unknown groups {unknown}; choose from {list(GROUPS)}")
    if options.num_workers == 0 or options.num_workers < -1:
        raise ExtractionError(f"--num_workers must be a positive count or -1 (all cores), got {options.num_workers}")
    if options.backend not in BACKENDS:
        raise ExtractionError(f"--backend must be one of {', '.join(BACKENDS)}, got {options.backend!r}")
    if not 0 <= options.max_failure_rate <= 1:
        raise ExtractionError(f"--max_failure_rate must be in [0, 1], got {options.max_failure_rate}")
    with output_lock(out_dir):  # one writer per feature dir: a second run is refused, naming this one
        return _extract(processed_dir, out_dir, config, options)


def _extract(processed_dir: Path, out_dir: Path, config: FeatureConfig, options: RunOptions) -> dict[str, Any]:
    manifest_path = processed_dir / MANIFEST_NAME
    records = read_manifest(manifest_path)  # a tampered or broken manifest is refused before any work
    selected = [r for r in records if r.group in options.groups]
    if not selected:
        raise ExtractionError(f"{manifest_path}: no records in groups {list(options.groups)}")
    info_path = out_dir / FEATURE_INFO
    previous = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else None
    if previous is not None and previous.get("config_hash") != config.hash and not options.force:
        raise ExtractionError(
            f"{info_path} was written with a different feature config (hash {previous.get('config_hash', '?')[:12]} "
            f"vs {config.hash[:12]} now); use another --out_dir, or --force to re-extract everything here"
        )
    items = _work_items(
        selected, processed_dir, out_dir, dialogue_contexts(records, config.text.context_window if config.text else 0)
    )
    groups = [g for g in GROUPS if any(item.meta["group"] == g for item in items)]

    config_dict = config.to_dict()
    pipeline = _pipeline(config_dict, options.device, options.batch_size)  # fail fast: options, packages, models
    # An index means "this group is complete, with the config in feature_info.json": the groups of this run
    # get theirs at the end; after a config change (--force), no other group's index is true any more either.
    config_changed = previous is not None and previous.get("config_hash") != config.hash
    for group in GROUPS if config_changed else groups:
        (out_dir / group / PICKLE_INDEX).unlink(missing_ok=True)

    from tqdm import tqdm

    started = time.perf_counter()
    outcomes: dict[str, Outcome] = {}
    workers = default_num_workers() if options.num_workers == -1 else options.num_workers
    shared = {"inputs": {"--processed_dir": processed_dir}, "outputs": {"--out_dir": out_dir}}
    task = functools.partial(extract_chunk, config_dict, options.device, options.batch_size, force=options.force)
    bar = tqdm(total=len(items), disable=options.quiet, unit="utt", desc="features", file=sys.stderr)
    with open_executor(options.backend, workers, options.scheduler, **shared) as executor, bar:
        for chunk_outcomes in executor.map_tasks(task, cut_tasks(_by_duration(items), options.chunk_size)):
            outcomes.update((o.id, o) for o in chunk_outcomes)
            bar.update(len(chunk_outcomes))
    elapsed = time.perf_counter() - started

    info = _report(config, pipeline, options, items, outcomes, groups, previous, elapsed)
    info["processed_dir"] = str(processed_dir)
    info["manifest_sha256"] = _file_sha256(manifest_path)
    if info["status"] == "ok":
        _write_indexes(out_dir, groups, items, outcomes)
    atomic_write_json(info_path, info)
    if info["status"] != "ok":
        by_reason = ", ".join(f"{reason}: {n}" for reason, n in info["failure_counts"].items())
        first = info["failures"][0]
        raise ExtractionError(
            f"{info['n_failed']} of {len(items)} utterances failed ({by_reason}), more than --max_failure_rate "
            f"{options.max_failure_rate:g}; e.g. {first['id']} ({first['file']}): {first['message']}. "
            f"All failures are listed in {info_path}; no index.jsonl was written."
        )
    return info


def _report(
    config: FeatureConfig,
    pipeline: FeaturePipeline,
    options: RunOptions,
    items: list[WorkItem],
    outcomes: dict[str, Outcome],
    groups: list[str],
    previous: dict | None,
    elapsed: float,
) -> dict[str, Any]:
    kept = previous if previous is not None and previous.get("config_hash") == config.hash else {}
    counts: dict[str, dict[str, int]] = dict(kept.get("counts", {}))
    failures = [f for f in kept.get("failures", []) if f["group"] not in groups]
    for group in groups:
        statuses = Counter(o.status for o in outcomes.values() if o.group == group)
        counts[group] = {
            "rows": statuses["extracted"] + statuses["skipped"],
            "extracted": statuses["extracted"],
            "skipped_existing": statuses["skipped"],
            "failed": statuses["failed"],
            # text is optional: these rows carry a zero text block (most speech corpora ship no transcripts)
            "no_transcript": sum(
                1
                for it in items
                if it.meta["group"] == group and not it.text.strip() and outcomes[it.id].status != "failed"
            ),
        }
    counts = {g: counts[g] for g in GROUPS if g in counts}
    failed_now = [o for o in outcomes.values() if o.status == "failed"]
    failures += [{k: v for k, v in asdict(o).items() if k not in ("status", "face_frames")} for o in failed_now]
    rate = len(failed_now) / len(items)
    extracted = sum(o.status == "extracted" for o in outcomes.values())
    info: dict[str, Any] = {
        "config": config.to_dict(),
        "config_hash": config.hash,
        "dims": pipeline.dims,
        **({"frame_dims": pipeline.frame_dims, "frame_layers": pipeline.frame_layers} if pipeline.frame_dims else {}),
        "counts": counts,
        "status": "ok" if rate <= options.max_failure_rate else "failed",
        "n_failed": len(failed_now),
        "failure_rate": rate,
        "max_failure_rate": options.max_failure_rate,
        "failure_counts": dict(Counter(f["reason"] for f in failures).most_common()),
        "failure_reasons": FAILURE_REASONS,
        "failures": failures,
        "timing": {
            "seconds": round(elapsed, 3),
            "extracted": extracted,
            "skipped_existing": sum(o.status == "skipped" for o in outcomes.values()),
            "clips_per_s": round(extracted / elapsed, 2) if elapsed > 0 else None,
        },
        "runtime": {
            "device": pipeline.device,
            "num_workers": options.num_workers,
            "backend": options.backend,
            "batch_size": options.batch_size,
            **options.runtime,
        },
        "versions": _versions(),
    }
    if "video" in pipeline.dims:
        frames = {o.id: o.face_frames for o in outcomes.values() if o.status != "failed"}
        info["video"] = {
            "clips_with_face": sum(1 for n in frames.values() if n),
            "clips_without_face": sorted(i for i, n in frames.items() if n == 0),
            "clips_without_media": sum(1 for n in frames.values() if n is None),
        }
    return info
