"""Model inputs read straight from the builder's output: waveforms cropped from the 16 kHz wavs, token ids.

An `UtteranceStore` is the fine-tuning counterpart of a feature store: it has the same
`labels`, `meta` and `batch(rows)` interface, so the protocols, the trainer and the
evaluation treat both alike, but a batch holds model inputs instead of feature vectors:

    audio          (B, S) float32 waveforms, zero-padded to the longest in the batch
    audio_lengths  (B,)   real samples per row
    text_ids       (B, L) token ids, padded with the tokenizer's pad id
    text_mask      (B, L) 1 at real tokens
    text_types     (B, L) token type ids (0 = the utterance, 1 = its dialogue context)
    <m>_frames     (B, T, D) and <m>_frames_mask (B, T) for a frozen encoder (see FrozenFrames)
    labels         (B,)

Text is tokenised once, when the store opens. Audio is read per batch, only the cropped
part: `max_audio_s` from a random offset in training (seeded by seed, epoch and the batch's
first row, so a resumed epoch reads the same crops) and from the centre otherwise. A frozen
encoder's outputs depend on nothing that training changes, so they are computed once per
utterance (on the centred crop) and kept in memory for every later epoch, fold and seed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

from mer_builder import errors
from mer_builder.audio import TARGET_SR
from mer_builder.labels import label_space
from mer_builder.manifest import MANIFEST_NAME, ManifestRecord, read_manifest

from ..features.frames import pad_frames
from ..features.store import META_FIELDS, Rows, row_labels
from ..features.text import dialogue_contexts, format_turn

KIND = "utterances"
logger = logging.getLogger(__name__)


class InputError(errors.InputError, ValueError):
    """The processed folder cannot feed fine-tuning; the message names the file and what is missing."""


@dataclass(frozen=True)
class TextInputs:
    """How transcripts become token ids: speaker prefix, dialogue context as the second segment, length cap."""

    max_tokens: int = 128
    include_speaker: bool = False
    context_window: int = 0

    def tokenize(
        self, tokenizer: Any, texts: Sequence[str], speakers: Sequence[str | None], contexts: Sequence[Sequence]
    ) -> list[tuple[list[int], list[int]]]:
        """(ids, token types) per utterance. The utterance is the first segment and is kept whole when it
        fits; the context (`speaker: text` of the previous turns) is the second and loses its oldest
        tokens first."""
        firsts = [format_turn(t, s, self.include_speaker) for t, s in zip(texts, speakers, strict=True)]
        seconds = [
            " ".join(format_turn(text, speaker, self.include_speaker) for speaker, text in turns) for turns in contexts
        ]
        out: list[tuple[list[int], list[int]]] = [([], [])] * len(firsts)
        pair_room = self.max_tokens - tokenizer.num_special_tokens_to_add(pair=True)
        lengths = [len(ids) for ids in tokenizer(firsts, add_special_tokens=False)["input_ids"]] if firsts else []
        paired = [i for i, (n, c) in enumerate(zip(lengths, seconds, strict=True)) if c.strip() and n < pair_room]
        single = sorted(set(range(len(firsts))) - set(paired))
        if paired:
            side = tokenizer.truncation_side
            tokenizer.truncation_side = "left"  # drop the oldest context first
            try:
                encoded = tokenizer(
                    [firsts[i] for i in paired],
                    [seconds[i] for i in paired],
                    truncation="only_second",
                    max_length=self.max_tokens,
                    return_token_type_ids=True,
                )
            finally:
                tokenizer.truncation_side = side
            for k, i in enumerate(paired):
                out[i] = (encoded["input_ids"][k], _types(encoded, k))
        if single:
            encoded = tokenizer(
                [firsts[i] for i in single], truncation=True, max_length=self.max_tokens, return_token_type_ids=True
            )
            for k, i in enumerate(single):
                out[i] = (encoded["input_ids"][k], _types(encoded, k))
        return out


def _types(encoded: Mapping, k: int) -> list[int]:
    types = encoded.get("token_type_ids")
    return list(types[k]) if types is not None else [0] * len(encoded["input_ids"][k])


FrozenFrames = Callable[[list[np.ndarray]], list[np.ndarray]]  # inputs -> per-row (T, D) frames


class UtteranceStore:
    """Rows of a processed folder's manifest, batched as model inputs (see the module docstring)."""

    kind = KIND

    def __init__(
        self,
        processed_dir: Path | str,
        records: Sequence[ManifestRecord],
        modalities: Sequence[str],
        max_audio_s: float = 6.0,
        label_type: str = "emotion",
    ):
        self.root = Path(processed_dir)
        self.records = list(records)
        self.modalities = tuple(modalities)
        self.dims: dict[str, int] = {}
        self.frame_dims: dict[str, int] = {}
        self.feature_config: dict | None = None
        self.meta = [{k: getattr(r, k) for k in META_FIELDS if getattr(r, k, None) is not None} for r in self.records]
        for meta, record in zip(self.meta, self.records, strict=True):
            meta["true_label"] = record.label
        self.label_type = label_type
        emotions = np.asarray([r.label for r in self.records], dtype=np.int64)
        self.labels = row_labels(emotions, self.meta, label_type, self.root / MANIFEST_NAME)
        self.crop_samples = round(max_audio_s * TARGET_SR)
        self.tokens: list[tuple[list[int], list[int]]] | None = None
        self.pad_id = 0
        self.frozen: dict[str, FrozenFrames] = {}
        self._frozen_cache: dict[str, dict[int, np.ndarray]] = {}
        self.quiet = True

    def __len__(self) -> int:
        return len(self.records)

    # -- set-up ------------------------------------------------------------------------------
    def tokenize(self, tokenizer: Any, text_inputs: TextInputs) -> None:
        contexts = dialogue_contexts(self.records, text_inputs.context_window)
        self.tokens = text_inputs.tokenize(
            tokenizer,
            [r.text for r in self.records],
            [r.speaker_id for r in self.records],
            [contexts[r.id] for r in self.records],
        )
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def set_frozen(self, modality: str, encode: FrozenFrames, dim: int) -> None:
        """Feed `modality` as frames of a frozen encoder (computed once per row) instead of raw inputs."""
        self.frozen[modality] = encode
        self.frame_dims[modality] = dim
        self._frozen_cache.setdefault(modality, {})

    @property
    def lengths(self) -> np.ndarray:
        """A per-row cost for length bucketing: tokens when text is trained, else audio samples."""
        if "text" in self.modalities and "text" not in self.frozen and self.tokens is not None:
            return np.asarray([len(ids) for ids, _ in self.tokens], dtype=np.int64)
        durations = np.asarray([r.duration_s for r in self.records], dtype=np.float64)
        return np.minimum(np.round(durations * TARGET_SR), self.crop_samples).astype(np.int64)

    # -- reading -----------------------------------------------------------------------------
    def _waveform(self, row: int, rng: np.random.Generator | None) -> np.ndarray:
        record = self.records[row]
        path = self.root / record.audio_path
        try:
            with sf.SoundFile(str(path)) as handle:
                total = handle.frames
                take = min(total, self.crop_samples)
                start = (total - take) // 2 if rng is None else int(rng.integers(0, total - take + 1))
                handle.seek(start)
                samples = handle.read(take, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise InputError(f"{path}: cannot read the audio of {record.id} ({exc})") from None
        waveform = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
        return waveform if len(waveform) else np.zeros(1, np.float32)

    def _frames(self, modality: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cache = self._frozen_cache[modality]
        todo = [int(r) for r in rows if int(r) not in cache]
        if todo:
            if modality == "audio":
                inputs = [self._waveform(r, None) for r in todo]
            else:
                inputs = [np.asarray(self._token_row(r), dtype=np.int64) for r in todo]  # (2, T): ids, types
            for r, frames in zip(todo, self.frozen[modality](inputs), strict=True):
                cache[r] = np.asarray(frames, dtype=np.float16)
        return pad_frames([cache[int(r)] for r in rows])

    def _token_row(self, row: int) -> tuple[list[int], list[int]]:
        if self.tokens is None:
            raise InputError("the text modality is used but the store was not tokenised (call tokenize first)")
        return self.tokens[row]

    def batch(self, rows: Rows, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        rows = np.arange(len(self))[rows] if isinstance(rows, slice) else np.asarray(rows, dtype=np.int64)
        out: dict[str, np.ndarray] = {"labels": self.labels[rows]}
        for modality in self.modalities:
            if modality in self.frozen:
                out[f"{modality}_frames"], out[f"{modality}_frames_mask"] = self._frames(modality, rows)
            elif modality == "audio":
                waves = [self._waveform(int(r), rng) for r in rows]
                out["audio"], out["audio_lengths"] = pad_waveforms(waves)
            elif modality == "text":
                ids, types = zip(*(self._token_row(int(r)) for r in rows), strict=True) if len(rows) else ((), ())
                out["text_ids"], out["text_mask"], out["text_types"] = pad_tokens(list(ids), list(types), self.pad_id)
            else:
                raise InputError(f"fine-tuning reads audio and text from {self.root}; {modality!r} is not supported")
        return out

    def warm_frozen(self, rows: np.ndarray, batch_size: int = 32) -> None:
        """Compute the frozen encoders' frames for `rows` up front, with a progress bar."""
        for modality in self.frozen:
            todo = [int(r) for r in rows if int(r) not in self._frozen_cache[modality]]
            for start in tqdm(
                range(0, len(todo), batch_size), desc=f"frozen {modality} encoder", disable=self.quiet or not todo
            ):
                self._frames(modality, np.asarray(todo[start : start + batch_size]))


def pad_waveforms(waves: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.asarray([len(w) for w in waves], dtype=np.int64)
    out = np.zeros((len(waves), int(lengths.max()) if len(waves) else 0), np.float32)
    for i, w in enumerate(waves):
        out[i, : len(w)] = w
    return out, lengths


def pad_tokens(
    ids: Sequence[Sequence[int]], types: Sequence[Sequence[int]], pad_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    width = max((len(x) for x in ids), default=0)
    out_ids = np.full((len(ids), width), pad_id, np.int64)
    mask = np.zeros((len(ids), width), np.int64)
    out_types = np.zeros((len(ids), width), np.int64)
    for i, (row, kinds) in enumerate(zip(ids, types, strict=True)):
        out_ids[i, : len(row)], mask[i, : len(row)], out_types[i, : len(row)] = row, 1, kinds
    return out_ids, mask, out_types


def open_utterances(
    processed_dir: Path | str,
    modalities: Sequence[str],
    max_audio_s: float,
    corpora: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    label_type: str = "emotion",
) -> tuple[UtteranceStore, list[str]]:
    """The processed folder's manifest (optionally only some corpora and groups) as one store with labels of
    `label_type`, and each row's group (train, val, testA, testB). Records without a label of that type
    (RAVDESS has no sentiment) are left out and counted in the log."""
    root = Path(processed_dir)
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        raise InputError(
            f"{manifest}: not found; data.processed_dir must be the builder's output folder "
            "(python -m mer_builder all --out_dir ...)"
        )
    records = read_manifest(manifest)
    available = sorted({r.dataset for r in records})
    if corpora:
        unknown = sorted(set(corpora) - set(available))
        if unknown:
            raise InputError(f"data.corpora names {unknown}, not in {manifest} (available: {available})")
        records = [r for r in records if r.dataset in corpora]
    if groups:
        records = [r for r in records if r.group in groups]
    field = label_space(label_type).field
    unlabelled = Counter(r.dataset for r in records if getattr(r, field, None) is None)
    if unlabelled:
        logger.info("%s: left out for having no %s label: %s", manifest, label_type, dict(sorted(unlabelled.items())))
        records = [r for r in records if getattr(r, field, None) is not None]
    if not records:
        raise InputError(
            f"{manifest}: no records with a {label_type} label left after choosing corpora "
            f"{list(corpora or available)} and groups {list(groups or [])}"
        )
    return UtteranceStore(root, records, modalities, max_audio_s, label_type), [r.group for r in records]
