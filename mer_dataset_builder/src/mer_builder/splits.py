"""Speaker-disjoint, seeded, order-independent split assignment.

A speaker's position comes from a hash of (seed, corpus, speaker id), never from file
order, so adding, removing or reordering files does not reshuffle anyone who stays.
Speakers are dealt round-robin across strata (gender, plus language where a corpus has
several), so test and val hold both genders whenever they have room for two speakers.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping

SPLIT_RATIOS: tuple[float, float, float] = (0.8, 0.1, 0.1)


def _rank(seed: int, dataset: str, key: str) -> str:
    return hashlib.sha256(f"{seed}\x00{dataset}\x00{key}".encode()).hexdigest()


def split_sizes(n_speakers: int, ratios: tuple[float, float, float] = SPLIT_RATIOS) -> tuple[int, int, int]:
    """(train, val, test) speaker counts: one speaker at least in val and test once there are three
    (a ratio of 0 keeps that split empty)."""
    if n_speakers < 3:
        test = 1 if n_speakers == 2 and ratios[2] > 0 else 0
        return n_speakers - test, 0, test
    val = max(1, round(n_speakers * ratios[1])) if ratios[1] > 0 else 0
    test = max(1, round(n_speakers * ratios[2])) if ratios[2] > 0 else 0
    return n_speakers - val - test, val, test


def assign_utterance_splits(
    ids: list[str], dataset: str, seed: int, ratios: tuple[float, float, float] = SPLIT_RATIOS
) -> dict[str, str]:
    """Utterance-level split (by seeded hash of the id) for a corpus with one speaker: not speaker-disjoint."""
    ordered = sorted(ids, key=lambda i: _rank(seed, dataset, i))
    n = len(ordered)
    n_test, n_val = round(n * ratios[2]), round(n * ratios[1])
    return {i: "test" if k < n_test else "val" if k < n_test + n_val else "train" for k, i in enumerate(ordered)}


def assign_speaker_splits(
    strata: Mapping[str, str | None],
    dataset: str,
    seed: int,
    ratios: tuple[float, float, float] = SPLIT_RATIOS,
) -> dict[str, str]:
    """Map every speaker to train/val/test; `strata` maps speaker id -> stratum (None = unknown)."""
    by_stratum: dict[str, list[str]] = defaultdict(list)
    for speaker, stratum in strata.items():
        by_stratum[str(stratum)].append(speaker)
    queues = [
        sorted(members, key=lambda s: _rank(seed, dataset, s))
        for _, members in sorted(by_stratum.items(), key=lambda kv: _rank(seed, dataset, "stratum:" + kv[0]))
    ]
    dealt: list[str] = []
    while any(queues):
        for queue in queues:
            if queue:
                dealt.append(queue.pop(0))
    _, n_val, n_test = split_sizes(len(dealt), ratios)
    assignment = {speaker: "test" for speaker in dealt[:n_test]}
    assignment.update({speaker: "val" for speaker in dealt[n_test : n_test + n_val]})
    assignment.update({speaker: "train" for speaker in dealt[n_test + n_val :]})
    return assignment
