"""Text features: the transcript, optionally prefixed by its speaker, plus an optional dialogue-context block.

The context of an utterance is the K previous utterances of the same dialogue, ordered by
`utterance_index` (never by id: `dia0_utt10` sorts before `dia0_utt2`). It is encoded by the
same text encoder into its own block, concatenated after the utterance's block; an utterance
with no previous turns gets a zero block, so every row has the same width. An utterance without a
transcript (text is optional: most speech corpora have none) gets a zero utterance block the same way.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Protocol, cast

import numpy as np

from .config import HashingSpec, TextSpec

Turn = tuple[str | None, str]  # (speaker, text) of one earlier utterance


class TextEncoder(Protocol):
    dim: int

    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...


class FrameTextEncoder(TextEncoder, Protocol):
    """A text encoder that can also return each text's token states."""

    frame_dim: int

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray] | None]: ...


class DialogueRecord(Protocol):
    id: str
    dataset: str
    split: str
    speaker_id: str
    text: str
    dialogue_id: str | None
    utterance_index: int | None


def format_turn(text: str, speaker: str | None, include_speaker: bool) -> str:
    return f"{speaker}: {text}" if include_speaker and speaker else text


class HashingTextEncoder:
    """Hashed, lowercased word uni+bigrams (by default) in `dim` buckets; no alternate sign, L2 norm."""

    def __init__(self, spec: HashingSpec):
        from sklearn.feature_extraction.text import HashingVectorizer

        spec.check()
        self.dim = spec.dim
        self._vectorizer = HashingVectorizer(
            n_features=spec.dim,
            lowercase=True,
            analyzer="word",
            ngram_range=tuple(spec.ngram_range),
            alternate_sign=False,
            norm=spec.norm,
            dtype=np.float32,
        )

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self._vectorizer.transform(list(texts)).toarray()


class TextFeaturizer:
    """Speaker prefix and dialogue context around any text encoder (hashing or a pretrained model)."""

    def __init__(self, spec: TextSpec, encoder: TextEncoder):
        self.spec, self.encoder = spec, encoder
        self.dim = encoder.dim * (2 if spec.context_window else 1)

    @property
    def frame_dim(self) -> int | None:
        """Values per token state when the encoder keeps them (a pretrained encoder with frames=True), else None."""
        keeps = getattr(self.spec.encoder, "frames", False)
        return int(cast(FrameTextEncoder, self.encoder).frame_dim) if keeps else None

    def __call__(
        self,
        texts: Sequence[str],
        speakers: Sequence[str | None] | None = None,
        contexts: Sequence[Sequence[Turn]] | None = None,
    ) -> np.ndarray:
        return self.encode(texts, speakers, contexts)[0]

    def encode(
        self,
        texts: Sequence[str],
        speakers: Sequence[str | None] | None = None,
        contexts: Sequence[Sequence[Turn]] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """The text vectors and, when the encoder keeps them, the token states of each utterance (its own turn,
        speaker prefix included, not its context); an utterance without a transcript has none (0, D)."""
        n = len(texts)
        speakers = speakers if speakers is not None else [None] * n
        include = self.spec.include_speaker
        current = np.zeros((n, self.encoder.dim), np.float32)  # no transcript: a zero block, like no context
        dim = self.frame_dim
        frames = None if dim is None else [np.zeros((0, dim), np.float32) for _ in range(n)]
        has_text = [i for i, text in enumerate(texts) if text.strip()]
        if has_text:
            turns = [format_turn(texts[i], speakers[i], include) for i in has_text]
            if frames is None:
                current[has_text] = self.encoder(turns)
            else:
                vectors, states = cast(FrameTextEncoder, self.encoder).encode(turns)
                current[has_text] = vectors
                for i, state in zip(has_text, states or [], strict=True):
                    frames[i] = state
        if not self.spec.context_window:
            return current, frames
        contexts = contexts if contexts is not None else [()] * n
        if len(contexts) != n:
            raise ValueError(f"got {n} texts but {len(contexts)} contexts")
        joined = [
            " ".join(format_turn(text, speaker, include) for speaker, text in turns[-self.spec.context_window :])
            for turns in contexts
        ]
        block = np.zeros((n, self.encoder.dim), np.float32)
        has_context = [i for i, text in enumerate(joined) if text.strip()]
        if has_context:
            block[has_context] = self.encoder([joined[i] for i in has_context])
        return np.concatenate([current, block], axis=1), frames


def dialogue_contexts(records: Iterable[DialogueRecord], window: int) -> dict[str, tuple[Turn, ...]]:
    """The `window` previous turns of each record's dialogue, oldest first, keyed by record id.

    Dialogues are keyed by (dataset, split, dialogue_id): MELD reuses dialogue numbers across
    its official splits. Records without a dialogue or turn index get no context.
    """
    dialogues: dict[tuple[str, str, str], list[DialogueRecord]] = defaultdict(list)
    out: dict[str, tuple[Turn, ...]] = {}
    for record in records:
        out[record.id] = ()
        if window and record.dialogue_id is not None and record.utterance_index is not None:
            dialogues[(record.dataset, record.split, record.dialogue_id)].append(record)
    for key, turns in dialogues.items():
        turns.sort(key=lambda r: r.utterance_index)
        for a, b in itertools.pairwise(turns):
            if a.utterance_index == b.utterance_index:
                raise ValueError(
                    f"dialogue {key}: utterances {a.id} and {b.id} share utterance_index {a.utterance_index}, "
                    "so their order is unknown; fix the manifest"
                )
        for position, record in enumerate(turns):
            earlier = turns[max(0, position - window) : position]
            out[record.id] = tuple((r.speaker_id, r.text) for r in earlier)
    return out
