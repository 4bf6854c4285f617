"""Fine-tuning inputs: token segments and their truncation, audio crops, frozen-encoder caching, length batches,
label types."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
from transformers import AutoTokenizer

from mer.finetune.inputs import InputError, TextInputs, open_utterances
from mer.training.data import length_batches
from mer_builder.labels import SENTIMENTS
from mer_builder.manifest import MANIFEST_NAME, read_manifest, write_manifest


def test_context_is_the_second_segment_and_loses_its_oldest_tokens_first(tiny_encoders):
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoders["bert"])
    turns = [("Ross", "i am so angry"), ("Rachel", "everything is lost"), ("Monica", "yes we did it")]
    spec = TextInputs(max_tokens=14, include_speaker=True, context_window=3)
    ((ids, types),) = spec.tokenize(tokenizer, ["i am so happy"], ["Joey"], [turns])
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert len(ids) == 14
    first_end = tokens.index("[SEP]")
    assert tokens[:first_end] == ["[CLS]", "joey", ":", "i", "am", "so", "happy"]  # the utterance, whole
    assert set(types[: first_end + 1]) == {0} and set(types[first_end + 1 :]) == {1}
    assert tokens[first_end + 1 : -1] == [":", "yes", "we", "did", "it"]  # the most recent context is kept
    assert tokens[-1] == "[SEP]"


def test_an_utterance_longer_than_the_cap_is_cut_and_gets_no_context(tiny_encoders):
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoders["bert"])
    spec = TextInputs(max_tokens=6, include_speaker=False, context_window=2)
    ((ids, types),) = spec.tokenize(tokenizer, ["i am so happy yes we did it"], [None], [[("Ross", "i am sad")]])
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "i", "am", "so", "happy", "[SEP]"]
    assert set(types) == {0}


def test_dialogue_context_comes_from_earlier_turns_of_the_same_dialogue(corpus, tiny_encoders):
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoders["bert"])
    store, _ = open_utterances(corpus, ["text"], 1.0)
    store.tokenize(tokenizer, TextInputs(max_tokens=64, include_speaker=True, context_window=1))
    by_id = {r.id: i for i, r in enumerate(store.records)}
    first = tokenizer.decode(store.tokens[by_id["MELD/train_dia0_utt0"]][0], skip_special_tokens=True)
    second = tokenizer.decode(store.tokens[by_id["MELD/train_dia0_utt1"]][0], skip_special_tokens=True)
    assert first == "ross : i am so angry"  # the dialogue's first turn has no context
    assert second == "rachel : i am so happy ross : i am so angry"


def test_audio_crops_are_random_in_training_and_centred_otherwise(corpus):
    store, _ = open_utterances(corpus, ["audio"], 0.25)
    rows = np.arange(4)
    centred = store.batch(rows)
    assert centred["audio"].shape == (4, 4000) and (centred["audio_lengths"] == 4000).all()
    np.testing.assert_array_equal(centred["audio"], store.batch(rows)["audio"])
    one = store.batch(rows, rng=np.random.default_rng([1, 1, 0]))["audio"]
    again = store.batch(rows, rng=np.random.default_rng([1, 1, 0]))["audio"]
    other = store.batch(rows, rng=np.random.default_rng([1, 2, 0]))["audio"]
    np.testing.assert_array_equal(one, again)
    assert not np.array_equal(one, other) and not np.array_equal(one, centred["audio"])


def test_frozen_encoder_runs_once_per_utterance(corpus):
    store, _ = open_utterances(corpus, ["audio"], 1.0)
    calls = []

    def encode(waves):
        calls.extend(len(w) for w in waves)
        return [np.ones((len(w) // 320, 4), np.float32) for w in waves]

    store.set_frozen("audio", encode, 4)
    first = store.batch([0, 1, 2])
    second = store.batch([2, 1, 0])
    assert len(calls) == 3 and first["audio_frames"].shape[2] == 4
    np.testing.assert_array_equal(first["audio_frames_mask"][::-1], second["audio_frames_mask"])


def test_length_batches_cover_each_row_once_and_group_similar_lengths():
    lengths = np.random.default_rng(0).integers(1, 200, 1000)
    order = np.random.default_rng(1).permutation(1000)
    batches = length_batches(order, lengths, 32, seed=1, epoch=1)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    random_padded = sum(len(b) * lengths[b].max() for b in np.array_split(order, len(batches)))
    assert padded < 0.7 * random_padded
    again = length_batches(order, lengths, 32, seed=1, epoch=1)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))


def test_missing_manifest_and_unknown_corpus_are_one_clear_error(corpus, tmp_path):
    with pytest.raises(InputError, match=r"meta_manifest.jsonl: not found; data.processed_dir must be"):
        open_utterances(tmp_path, ["text"], 1.0)
    with pytest.raises(InputError, match=r"data.corpora names \['IEMOCAP'\].*available: \['MELD'\]"):
        open_utterances(corpus, ["text"], 1.0, corpora=["IEMOCAP"])


def test_sentiment_labels_come_from_the_manifest_and_unrated_records_are_left_out(corpus, tmp_path, caplog):
    records = read_manifest(corpus / MANIFEST_NAME)
    rated = {r.id: SENTIMENTS[i % 3] for i, r in enumerate(records) if i % 2 == 0}
    write_manifest([replace(r, sentiment=rated.get(r.id)) for r in records], tmp_path / MANIFEST_NAME)
    (tmp_path / "audio").symlink_to(corpus / "audio")
    with caplog.at_level(logging.INFO, logger="mer.finetune.inputs"):
        store, groups = open_utterances(tmp_path, ["text"], 1.0, label_type="sentiment")
    assert [m["id"] for m in store.meta] == list(rated) and len(groups) == len(rated)
    assert store.label_type == "sentiment" and store.labels.tolist() == [SENTIMENTS.index(s) for s in rated.values()]
    assert f"left out for having no sentiment label: {{'MELD': {len(records) - len(rated)}}}" in caplog.text
    with pytest.raises(InputError, match="no records with a sentiment label"):
        open_utterances(corpus, ["text"], 1.0, label_type="sentiment")
