"""CaFE recipe: accented folders in NFC or NFD, intensity folders, neutral's short names, the 192 kHz parts."""

import re
import shutil
import unicodedata
import zipfile
from collections import Counter

import pytest

from mer_builder.recipes import cafe, get_recipe
from mer_builder.recipes.common import CorpusError

RECIPE = cafe


def test_module_follows_the_recipe_contract():
    assert get_recipe("cafe") is cafe and (cafe.NAME, cafe.CORPUS, cafe.FOLDER, cafe.LANGUAGE) == (
        "cafe", "CaFE", "CaFE", "fr"
    )  # fmt: skip


def test_demo_parses_with_intensities_genders_and_french_text(demo_raw, parse):
    names = {p.name for p in (demo_raw / "CaFE").iterdir()}
    assert unicodedata.normalize("NFD", "Dégoût") in names and "Dégoût" not in names  # the macOS-zip trap
    utterances, ctx = parse(cafe.locate(demo_raw))
    assert not ctx.problems and len(utterances) == 4 * 13
    assert Counter(u.emotion for u in utterances) == {e: 8 for e in cafe.LABELS.values() if e != "neutral"} | {
        "neutral": 4
    }
    for u in utterances:
        assert u.gender == ("male" if int(u.speaker_id) % 2 else "female") and u.text in cafe.SENTENCES.values()
        assert u.intensity == (None if u.raw_label == "N" else cafe.INTENSITIES[u.native_id.split("-")[2]])


def test_a_name_that_does_not_fit_its_folder_is_a_problem(raw_copy, parse):
    folder = raw_copy / "CaFE" / "Joie" / "Fort"
    shutil.copy(next(folder.glob("*.wav")), folder / "01-J-1-3.wav")  # low intensity in the Fort/ folder
    with pytest.raises(CorpusError, match=re.escape("does not fit its folder Joie/Fort")):
        parse(raw_copy / "CaFE")


def test_the_192k_parts_are_read_as_one_corpus(raw_copy, tmp_path, parse):
    parts = tmp_path / "raw" / "CaFE"
    for k, folder in enumerate(sorted((raw_copy / "CaFE").iterdir())):
        shutil.copytree(folder, parts / f"CaFE_192k_{k % 2 + 1}" / folder.name)
    expected = sorted(u.native_id for u in parse(raw_copy / "CaFE")[0])
    assert sorted(u.native_id for u in parse(cafe.locate(tmp_path / "raw"))[0]) == expected


def test_download_fetches_and_unpacks_the_zenodo_zip(demo_raw, tmp_path, monkeypatch, parse):
    served = tmp_path / "served" / cafe.ARCHIVE
    served.parent.mkdir()
    with zipfile.ZipFile(served, "w") as zf:
        for path in sorted((demo_raw / "CaFE").rglob("*.wav")):
            zf.write(path, f"CaFE_48k/{path.relative_to(demo_raw / 'CaFE').as_posix()}")
    monkeypatch.setattr(cafe, "URL", served.as_uri())
    raw = tmp_path / "raw"
    assert cafe.download(raw) == raw / "CaFE"  # the zip's own CaFE_48k/ folder inside is read where it lands
    assert len(parse(cafe.locate(raw))[0]) == 52
