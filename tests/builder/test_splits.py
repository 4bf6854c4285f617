import random
from collections import Counter

from mer_builder.splits import assign_speaker_splits, split_sizes

RAVDESS_SPEAKERS = {f"{i:02d}": "male" if i % 2 else "female" for i in range(1, 25)}


def test_split_sizes():
    assert split_sizes(24) == (20, 2, 2)
    assert split_sizes(91) == (73, 9, 9)
    assert split_sizes(4) == (2, 1, 1)
    assert split_sizes(2) == (1, 0, 1)
    assert split_sizes(1) == (1, 0, 0)


def test_assignment_ignores_input_order_and_depends_on_seed():
    items = list(RAVDESS_SPEAKERS.items())
    first = assign_speaker_splits(dict(items), "RAVDESS", seed=7)
    random.Random(0).shuffle(items)
    assert assign_speaker_splits(dict(items), "RAVDESS", seed=7) == first
    assert assign_speaker_splits(dict(items), "RAVDESS", seed=8) != first


def test_every_split_holds_both_genders_when_it_has_room():
    for seed in range(20):
        assignment = assign_speaker_splits(RAVDESS_SPEAKERS, "RAVDESS", seed=seed)
        assert Counter(assignment.values()) == {"train": 20, "val": 2, "test": 2}
        for split in ("train", "val", "test"):
            genders = {RAVDESS_SPEAKERS[s] for s, sp in assignment.items() if sp == split}
            assert genders == {"male", "female"}, (seed, split)


def test_small_corpus_keeps_both_genders_in_train():
    speakers = {"bea": "female", "jenie": "female", "josh": "male", "sam": "male"}
    for seed in range(10):
        assignment = assign_speaker_splits(speakers, "EmoV-DB", seed=seed)
        assert sorted(assignment.values()) == ["test", "train", "train", "val"]
        assert {speakers[s] for s, sp in assignment.items() if sp == "train"} == {"male", "female"}
