"""eNTERFACE'05 recipe: subject from the folder (s12_ names in subject 11), s_3_ names, stray suffixes, AVI audio."""

import re
import shutil
from collections import Counter

import pytest

from mer_builder.audio import load_audio
from mer_builder.recipes import enterface, get_recipe
from mer_builder.recipes.common import CorpusError, ManualDownloadRequired

RECIPE = enterface


def test_module_follows_the_recipe_contract():
    assert get_recipe("enterface") is enterface and enterface.CORPUS == "eNTERFACE05"


def test_demo_with_the_real_quirks_parses(demo_raw, parse):
    utterances, ctx = parse(enterface.locate(demo_raw))
    assert not ctx.problems and not ctx.drops and len(utterances) == 6 * 6
    assert Counter(u.speaker_id for u in utterances) == {f"subject{s}": 6 for s in (1, 2, 3, 11, 12, 16)}
    assert {(u.raw_label, u.emotion) for u in utterances} == set(enterface.LABELS.items())
    subject11 = [u for u in utterances if u.speaker_id == "subject11"]
    assert all(u.source.stem.startswith("s12_") and u.native_id.startswith("s11_") for u in subject11)
    assert all(u.notes == ["the file name says subject 12; its folder, 11"] for u in subject11)
    ids = {u.native_id for u in utterances}
    assert "s16_su_3" in ids and any(u.source.stem.startswith("s_3_") for u in utterances if u.speaker_id == "subject3")
    assert all(u.media_path == u.source and u.text == "" for u in utterances)
    samples, _ = load_audio(utterances[0].source, 16000)  # the audio track of the AVI
    assert samples.size > 8000


def test_the_folder_the_release_unpacks_to_is_found(raw_copy, tmp_path):
    shutil.move(raw_copy / "eNTERFACE05", tmp_path / "enterface database")
    assert enterface.locate(tmp_path) == tmp_path / "enterface database"


def test_a_code_that_disagrees_with_its_folder_is_a_problem(raw_copy, parse):
    folder = raw_copy / "eNTERFACE05" / "subject 1" / "fear" / "sentence 3"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(next((raw_copy / "eNTERFACE05" / "subject 1").rglob("*.avi")), folder / "s1_an_3.avi")
    with pytest.raises(CorpusError, match=re.escape("the name's code 'an' does not match its folder fear/")):
        parse(raw_copy / "eNTERFACE05")


def test_download_says_where_to_get_it(tmp_path):
    with pytest.raises(ManualDownloadRequired, match="enterface"):
        enterface.download(tmp_path)
