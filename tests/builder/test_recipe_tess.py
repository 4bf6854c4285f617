"""TESS recipe: the real release's folder spellings and file names, OA_ prefix, duplicates, carrier phrase."""

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from mer_builder.recipes import get_recipe, tess
from mer_builder.recipes.common import CorpusError, ManualDownloadRequired

RECIPE = tess
REAL_LIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "TESS_SAVEE_file_lists"


def test_module_follows_the_recipe_contract():
    assert get_recipe("tess") is tess and (tess.NAME, tess.CORPUS, tess.FOLDER) == ("tess", "TESS", "TESS")


def test_demo_with_the_real_spellings_parses(demo_raw, parse):
    utterances, ctx = parse(tess.locate(demo_raw))
    assert not ctx.problems and not ctx.drops and len(utterances) == 2 * 7 * 3
    assert {p.name for p in (demo_raw / "TESS").iterdir()} >= {
        "OAF_Fear",
        "OAF_Pleasant_surprise",
        "YAF_pleasant_surprised",
    }
    assert Counter(u.emotion for u in utterances) == dict.fromkeys(tess.LABELS.values(), 6)
    surprise = [u for u in utterances if u.emotion == "surprise"]
    assert {u.raw_label for u in surprise} == {"pleasant_surprise"} and all(
        u.source.stem.endswith("_ps") for u in surprise
    )
    assert all(u.text == f"Say the word {u.native_id.split('_')[1]}." for u in utterances)
    [oa] = [u for u in utterances if u.source.name == "OA_bite_neutral.wav"]
    assert oa.speaker_id == "OAF" and oa.native_id == "OAF_bite_neutral" and "the file name says 'OA'" in oa.notes[0]


def test_file_and_folder_must_agree(raw_copy, parse):
    folder = raw_copy / "TESS" / "YAF_sad"
    shutil.copy(next(folder.glob("*.wav")), folder / "YAF_back_happy.wav")
    with pytest.raises(CorpusError, match=re.escape("the file name says 'happy' but it is in the YAF_sad/ folder")):
        parse(raw_copy / "TESS")


def test_a_copy_nested_twice_is_counted_once(raw_copy, tmp_path, parse):
    nested = raw_copy / "TESS" / "TESS Toronto emotional speech set data"
    shutil.copytree(raw_copy / "TESS" / "OAF_angry", nested / "OAF_angry")
    utterances, ctx = parse(raw_copy / "TESS")
    assert len(utterances) == 42 and len(ctx.drops) == 3 and ctx.drops[0]["reason"].startswith("duplicate")


def test_download_says_where_to_get_it(tmp_path):
    with pytest.raises(ManualDownloadRequired, match="Dataverse"):
        tess.download(tmp_path)


@pytest.mark.real_data
def test_the_real_file_names_parse(tmp_path, parse):
    listing = REAL_LIST / "TESS_files.txt"
    if not listing.is_file():
        pytest.skip(f"the real TESS file list is not at {listing}")
    for name in listing.read_text().split():
        (tmp_path / "TESS" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "TESS" / name).touch()  # names only: parsing never opens the audio
    utterances, ctx = parse(tess.locate(tmp_path))
    assert not ctx.problems and not ctx.drops and len(utterances) == 2800
    assert Counter((u.speaker_id, u.emotion) for u in utterances) == {
        (s, e): 200 for s in tess.SPEAKERS for e in tess.LABELS.values()
    }
    assert [u.source.name for u in utterances if u.notes] == ["OA_bite_neutral.wav"]
