"""The acoustic reference a checkpoint carries: cue statistics of its training set's neutral class.

Explanations compare a recording's pitch, loudness, speaking rate and voice clarity with how the
neutral utterances the model was trained on sound (`checkpoint["acoustic_reference"]`). Training
adds it to every checkpoint it writes (`run_experiment` measures up to `MAX_FILES` neutral training
utterances once per fold, a few seconds), reading the normalised wavs the features were made from:

    features_dir/<group>/info.json "source_dir"  ->  the pickle group dir (memmap stores)
    <pickle group dir>/../feature_info.json "processed_dir"  ->  the builder's output
    <processed_dir>/meta_manifest.jsonl  ->  audio_path of each training id

When those files are gone the checkpoint is written without a reference (training says so), and
explanations report the cues without the comparison. A checkpoint trained before this existed gets
one with `python -m mer.explain.reference --ckpt K --out K2`, which writes a new file and never
replaces the one given.

    acoustic_reference = {"format": 1, "class": "neutral", "files": n, "unreadable": k,
                          "corpora": {"MELD": n1, ...}, "cues": {cue: {n, mean, std, p10, p50, p90}}}
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mer_builder.audio import TARGET_SR, AudioDecodeError, load_audio
from mer_builder.manifest import MANIFEST_NAME, iter_manifest

from ..features.store import FEATURE_INFO, MEMMAP_INFO, PICKLE_INDEX
from .acoustics import acoustic_cues, cue_statistics

logger = logging.getLogger(__name__)
REFERENCE_KEY = "acoustic_reference"
REFERENCE_CLASS = "neutral"
REFERENCE_FORMAT = 1
MAX_FILES = 300


def neutral_reference(audio: Sequence[tuple[str, Path]], quiet: bool = True) -> dict[str, Any] | None:
    """Cue statistics over (corpus, wav path) pairs; files that cannot be decoded are counted, not fatal."""
    measured: list[dict[str, float | None]] = []
    corpora: Counter[str] = Counter()
    unreadable = 0
    for corpus, path in tqdm(audio, desc="acoustic reference", unit="file", disable=quiet):
        try:
            samples, _ = load_audio(path, target_sr=TARGET_SR)
        except (AudioDecodeError, OSError):
            unreadable += 1
            continue
        measured.append(acoustic_cues(samples, TARGET_SR))
        corpora[corpus] += 1
    if not measured:
        return None
    return {
        "format": REFERENCE_FORMAT,
        "class": REFERENCE_CLASS,
        "files": len(measured),
        "unreadable": unreadable,
        "corpora": dict(sorted(corpora.items())),
        "cues": cue_statistics(measured),
    }


def pick_rows(meta: Sequence[Mapping], max_files: int = MAX_FILES) -> list[int]:
    """The neutral rows to measure: at most `max_files`, chosen by a hash of the id so the choice does not depend
    on row order and spreads over corpora and speakers."""
    neutral = [i for i, row in enumerate(meta) if row.get("emotion") == REFERENCE_CLASS]
    neutral.sort(key=lambda i: hashlib.sha1(str(meta[i]["id"]).encode()).hexdigest())
    return sorted(neutral[:max_files])


def processed_dirs(features_root: Path | str) -> list[Path]:
    """The builder outputs the feature groups under `features_root` were extracted from, found through the
    records the extractor and the memmap packer keep (see the module docstring); a builder output itself
    (what fine-tuning reads) is its own."""
    if (Path(features_root) / MANIFEST_NAME).is_file():
        return [Path(features_root)]
    found: list[Path] = []
    for group in sorted(Path(features_root).iterdir()) if Path(features_root).is_dir() else []:
        pickle_dir = None
        if (group / MEMMAP_INFO).is_file():
            source = json.loads((group / MEMMAP_INFO).read_text(encoding="utf-8")).get("source_dir")
            pickle_dir = Path(source) if source else None
        elif (group / PICKLE_INDEX).is_file():
            pickle_dir = group
        info = pickle_dir.parent / FEATURE_INFO if pickle_dir else None
        if info is not None and info.is_file():
            processed = json.loads(info.read_text(encoding="utf-8")).get("processed_dir")
            if processed and (Path(processed) / MANIFEST_NAME).is_file() and Path(processed) not in found:
                found.append(Path(processed))
    return found


def training_reference(
    features_root: Path | str,
    train_meta: Sequence[Mapping],
    processed: Sequence[Path] | None = None,
    quiet: bool = True,
    context: str = "",
) -> dict[str, Any] | None:
    """The reference of one training set (its rows' meta, as a feature store gives them), or None with a log
    line saying why there is none; `context` starts the log lines (e.g. the fold)."""
    rows = pick_rows(train_meta)
    if not rows:
        logger.info("%sacoustic reference: no neutral training utterances; explanations will not compare cues", context)
        return None
    processed = list(processed) if processed is not None else processed_dirs(features_root)
    wanted = {str(train_meta[i]["id"]) for i in rows}
    audio: dict[str, tuple[str, Path]] = {}
    for folder in processed:
        for record in iter_manifest(folder / MANIFEST_NAME):
            if record.id in wanted:
                audio[record.id] = (record.dataset, folder / record.audio_path)
    if not audio:
        logger.warning(
            "%sacoustic reference: the processed audio behind %s was not found (its feature_info.json names no "
            "builder output that is still there); checkpoints carry no neutral reference",
            context,
            features_root,
        )
        return None
    reference = neutral_reference([audio[k] for k in sorted(audio)], quiet)
    if reference is not None:
        reference["missing"] = len(wanted) - len(audio)
        logger.info("%sacoustic reference: %d neutral training utterances measured", context, reference["files"])
    return reference


def reference_main(argv: Sequence[str] | None = None) -> int:
    """`python -m mer.explain.reference --ckpt K --out K2`: a copy of K with its training set's neutral reference."""
    from ..config import ConfigError
    from ..experiment import plan
    from ..protocols import ProtocolError
    from ..training.checkpoint import CheckpointError, checkpoint_kind, load_checkpoint, save_checkpoint

    parser = argparse.ArgumentParser(
        prog="python -m mer.explain.reference",
        description="Write a copy of a checkpoint with the acoustic statistics of its training set's neutral "
        "class, which explanations compare recordings with. The checkpoint given is never modified.",
    )
    parser.add_argument("--ckpt", type=Path, required=True, help="a checkpoint (checkpoints/best.pt of a run)")
    parser.add_argument("--out", type=Path, required=True, help="the new checkpoint file")
    parser.add_argument(
        "--processed_dir", type=Path, help="the builder output the features came from (default: found via them)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists (never --ckpt)")
    args = parser.parse_args(argv)
    try:
        if args.out.resolve() == args.ckpt.resolve():
            raise FileExistsError(f"{args.out}: --out must be a new file; the checkpoint given is never modified")
        if args.out.exists() and not args.overwrite:
            raise FileExistsError(f"{args.out}: already exists; pass --overwrite to replace it")
        checkpoint = load_checkpoint(args.ckpt)
        data, folds, _ = plan(checkpoint["config"], finetune=checkpoint_kind(checkpoint) == "finetune")
        fold = next((f for f in folds if f.name == checkpoint.get("fold")), None)
        if fold is None:
            raise ProtocolError(
                f"{args.ckpt}: its fold {checkpoint.get('fold')!r} is not among {[f.name for f in folds]}"
            )
        processed = [args.processed_dir] if args.processed_dir else None
        reference = training_reference(data.root, data.subset(fold.train).meta, processed=processed, quiet=False)
        if reference is None:
            raise FileNotFoundError(f"{args.ckpt}: no neutral training audio found; pass --processed_dir")
        save_checkpoint(args.out, {**checkpoint, REFERENCE_KEY: reference})
    except (CheckpointError, ConfigError, ProtocolError, FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({reference['files']} neutral training utterances)")
    return 0


if __name__ == "__main__":
    raise SystemExit(reference_main())
