"""URDU recipe: speaker and gender from the name, the GitHub zip's folder, uneven numbering, subfolders."""

import re
import shutil
import zipfile
from collections import Counter

import pytest

from mer_builder.recipes import get_recipe, urdu
from mer_builder.recipes.common import CorpusError

RECIPE = urdu


def test_module_follows_the_recipe_contract():
    assert get_recipe("urdu") is urdu and (urdu.CORPUS, urdu.LANGUAGE) == ("URDU", "ur")


def test_the_repository_zip_as_it_unpacks_is_found_and_parsed(demo_raw, parse):
    corpus = urdu.locate(demo_raw)
    assert corpus == demo_raw / "URDU" / "URDU-Dataset-master"
    utterances, ctx = parse(corpus)
    assert not ctx.problems and len(utterances) == 4 * 8 * 2
    ids = {u.native_id for u in utterances}
    assert "SM1_F1_A01" in ids and any(i.endswith("0100") for i in ids)  # numbered as the release numbers
    assert Counter(u.gender for u in utterances) == {"male": 40, "female": 24}
    assert all(u.speaker_id == u.native_id.split("_")[0] and u.text == "" for u in utterances)
    assert any(u.source.parent.name == "SM24" for u in utterances)  # per-speaker subfolder


def test_a_letter_that_disagrees_with_the_folder_is_a_problem(raw_copy, parse):
    folder = raw_copy / "URDU" / "URDU-Dataset-master" / "Sad"
    shutil.copy(next(folder.glob("*.wav")), folder / "SM1_F9_H099.wav")
    with pytest.raises(CorpusError, match=re.escape("emotion letter H does not match its folder Sad/")):
        parse(urdu.locate(raw_copy))


def test_download_fetches_the_repository_zip(demo_raw, tmp_path, monkeypatch, parse):
    served = tmp_path / "served" / "master.zip"
    served.parent.mkdir()
    with zipfile.ZipFile(served, "w") as zf:
        for path in sorted((demo_raw / "URDU").rglob("*.wav")):
            zf.write(path, path.relative_to(demo_raw / "URDU").as_posix())
    monkeypatch.setattr(urdu, "URL", served.as_uri())
    raw = tmp_path / "raw"
    assert urdu.download(raw) == raw / "URDU" / "URDU-Dataset-master"
    assert len(parse(urdu.locate(raw))[0]) == 64
