"""EMOVO recipe: <emotion>-<actor>-<sentence>.wav in actor folders, Italian sentences, stereo 48 kHz."""

import re
import shutil
from collections import Counter

import pytest

from mer_builder.audio import load_audio
from mer_builder.recipes import emovo, get_recipe
from mer_builder.recipes.common import CorpusError, ManualDownloadRequired

RECIPE = emovo


def test_module_follows_the_recipe_contract():
    assert get_recipe("emovo") is emovo and (emovo.CORPUS, emovo.LANGUAGE, len(emovo.SENTENCES)) == ("EMOVO", "it", 14)


def test_demo_parses(demo_raw, parse):
    utterances, ctx = parse(emovo.locate(demo_raw))
    assert not ctx.problems and len(utterances) == 6 * 7
    assert Counter(u.speaker_id for u in utterances) == dict.fromkeys(emovo.ACTORS, 7)
    assert {(u.raw_label, u.emotion) for u in utterances} == set(emovo.LABELS.items())
    for u in utterances:
        assert u.gender == emovo.ACTORS[u.speaker_id] and u.text == emovo.SENTENCES[u.native_id.split("-")[2]]
    samples, sr = load_audio(utterances[0].source, 16000)  # stereo 48 kHz decodes to mono 16 kHz
    assert sr == 16000 and samples.ndim == 1


def test_actor_folders_under_dataset_are_found(raw_copy, tmp_path, parse):
    shutil.copytree(raw_copy / "EMOVO", tmp_path / "raw" / "EMOVO" / "Dataset")
    assert len(parse(emovo.locate(tmp_path / "raw"))[0]) == 42


def test_an_actor_name_not_matching_its_folder_is_a_problem(raw_copy, parse):
    folder = raw_copy / "EMOVO" / "m2"
    shutil.copy(next(folder.glob("*.wav")), folder / "rab-m3-b1.wav")
    with pytest.raises(CorpusError, match=re.escape("file name is not <emotion>-m2-<sentence>.wav")):
        parse(raw_copy / "EMOVO")


def test_download_says_where_to_get_it(tmp_path):
    with pytest.raises(ManualDownloadRequired, match=re.escape("voice.fub.it")):
        emovo.download(tmp_path)
