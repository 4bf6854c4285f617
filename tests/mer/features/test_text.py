import subprocess
import sys

import numpy as np
import pytest

from mer.features.config import HashingSpec, TextSpec
from mer.features.text import HashingTextEncoder, TextFeaturizer, dialogue_contexts
from tests.mer.features.conftest import MELD_DIALOGUE, Utt


def _featurizer(**kwargs) -> TextFeaturizer:
    spec = TextSpec(HashingSpec(dim=kwargs.pop("dim", 256)), **kwargs)
    return TextFeaturizer(spec, HashingTextEncoder(spec.encoder))


def test_hashing_is_deterministic_across_processes_and_lowercases():
    text = "Oh my God, Ross! You were on a BREAK?"
    here = _featurizer(dim=64)([text])[0]
    code = (
        "from mer.features.config import HashingSpec; from mer.features.text import HashingTextEncoder;"
        f"print(HashingTextEncoder(HashingSpec(dim=64))([{text!r}])[0].tolist())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    np.testing.assert_array_equal(here, np.array(eval(other), dtype=np.float32))
    np.testing.assert_array_equal(here, _featurizer(dim=64)([text.lower()])[0])
    assert np.isclose(np.linalg.norm(here), 1.0) and (here >= 0).all()  # L2 norm, no alternate sign


def test_bigrams_make_word_order_matter_and_unigrams_do_not():
    bigrams = _featurizer()(["dog bites man", "man bites dog"])
    assert not np.allclose(bigrams[0], bigrams[1])
    spec = TextSpec(HashingSpec(dim=256, ngram_range=(1, 1)))
    unigrams = TextFeaturizer(spec, HashingTextEncoder(spec.encoder))(["dog bites man", "man bites dog"])
    np.testing.assert_array_equal(unigrams[0], unigrams[1])


def test_speaker_prefix_changes_features_only_when_asked():
    texts, speakers = ["I know!"], ["Rachel"]
    plain = _featurizer()(texts, speakers)
    prefixed = _featurizer(include_speaker=True)(texts, speakers)
    np.testing.assert_array_equal(plain, _featurizer()(texts))
    assert not np.allclose(plain, prefixed)
    np.testing.assert_array_equal(prefixed, _featurizer()(["Rachel: I know!"]))


def _dialogue(split="train", dialogue="dia7"):
    return [
        Utt(f"MELD/{split}_{dialogue}_utt{i}", split, speaker, emotion, text, 0.5, dialogue, i).record()
        for i, speaker, text, emotion in MELD_DIALOGUE
    ]


def test_context_window_takes_previous_turns_of_the_same_dialogue_in_turn_order():
    records = sorted(_dialogue() + _dialogue("test") + _dialogue(dialogue="dia8"), key=lambda u: u.id)
    assert [u.utterance_index for u in records[:4]] == [0, 1, 10, 2]  # id order is not turn order
    contexts = dialogue_contexts(records, window=2)  # MELD reuses dialogue ids across splits: kept apart
    assert contexts["MELD/train_dia7_utt0"] == contexts["MELD/test_dia7_utt0"] == ()
    assert contexts["MELD/train_dia7_utt1"] == (("Monica", MELD_DIALOGUE[0][2]),)
    assert contexts["MELD/train_dia7_utt10"] == (("Joey", MELD_DIALOGUE[1][2]), ("Chandler", MELD_DIALOGUE[2][2]))
    assert dialogue_contexts(records, window=0)["MELD/train_dia7_utt10"] == ()
    assert len(dialogue_contexts(records, window=5)["MELD/train_dia7_utt10"]) == 3


def test_context_window_changes_the_features_and_gets_its_own_block():
    records = _dialogue()
    contexts = dialogue_contexts(records, window=2)
    texts, speakers = [u.text for u in records], [u.speaker_id for u in records]
    ctx = [contexts[u.id] for u in records]
    without = _featurizer()(texts, speakers)
    with_context = _featurizer(context_window=2)(texts, speakers, ctx)
    assert with_context.shape == (4, 512)
    np.testing.assert_array_equal(with_context[:, :256], without)  # the utterance block is unchanged
    assert not with_context[0, 256:].any()  # first turn: no context, zero block
    assert with_context[1:, 256:].any(axis=1).all()
    # the block for turn 10 encodes exactly turns 1 and 2, oldest first
    joined = f"{records[1].text} {records[2].text}"
    np.testing.assert_array_equal(with_context[3, 256:], _featurizer()([joined])[0])
    with_speakers = _featurizer(context_window=2, include_speaker=True)(texts, speakers, ctx)
    assert not np.allclose(with_speakers[3, 256:], with_context[3, 256:])


def test_repeated_turn_indices_are_an_error_naming_both_utterances():
    records = _dialogue()
    records[1].utterance_index = 0
    with pytest.raises(ValueError, match=r"train_dia7_utt0 and MELD/train_dia7_utt1 share utterance_index 0"):
        dialogue_contexts(records, window=1)
