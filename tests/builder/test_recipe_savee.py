"""SAVEE recipe: AudioData/<SPEAKER>/<code><NN>.wav, the copies without AudioData or flattened, real names."""

import shutil
from collections import Counter
from pathlib import Path

import pytest

from mer_builder.recipes import get_recipe, savee
from mer_builder.recipes.common import CorpusError, ManualDownloadRequired

RECIPE = savee
REAL_LIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "TESS_SAVEE_file_lists"


def test_module_follows_the_recipe_contract():
    assert get_recipe("savee") is savee and (savee.NAME, savee.CORPUS, savee.FOLDER) == ("savee", "SAVEE", "SAVEE")


def test_demo_parses_every_code(demo_raw, parse):
    utterances, ctx = parse(savee.locate(demo_raw))
    assert not ctx.problems and len(utterances) == 4 * 7 * 2
    assert {(u.raw_label, u.emotion) for u in utterances} == set(savee.LABELS.items())
    assert {u.gender for u in utterances} == {"male"} and {u.text for u in utterances} == {""}
    assert "DC_sa02" in {u.native_id for u in utterances} and "KL_n25" in {u.native_id for u in utterances}


def test_the_speaker_folders_without_audiodata_and_the_flat_copy(raw_copy, tmp_path, parse):
    bare = tmp_path / "bare" / "SAVEE"
    shutil.copytree(raw_copy / "SAVEE" / "AudioData", bare)
    flat = tmp_path / "flat" / "SAVEE" / "ALL"
    flat.mkdir(parents=True)
    for path in (raw_copy / "SAVEE" / "AudioData").rglob("*.wav"):
        shutil.copy(path, flat / f"{path.parent.name}_{path.name}")
    expected = sorted(u.native_id for u in parse(raw_copy / "SAVEE")[0])
    for raw in (tmp_path / "bare", tmp_path / "flat"):
        assert sorted(u.native_id for u in parse(savee.locate(raw))[0]) == expected


def test_an_unknown_code_is_a_problem(raw_copy, parse):
    folder = raw_copy / "SAVEE" / "AudioData" / "JK"
    shutil.copy(next(folder.glob("*.wav")), folder / "x01.wav")
    with pytest.raises(CorpusError, match="unknown raw label 'x'"):
        parse(raw_copy / "SAVEE")


def test_download_says_where_to_register(tmp_path):
    with pytest.raises(ManualDownloadRequired, match="registration"):
        savee.download(tmp_path)


@pytest.mark.real_data
def test_the_real_file_names_parse(tmp_path, parse):
    listing = REAL_LIST / "SAVEE_files.txt"
    if not listing.is_file():
        pytest.skip(f"the real SAVEE file list is not at {listing}")
    for name in listing.read_text().split():
        if name.endswith(".wav"):
            (tmp_path / "SAVEE" / "AudioData" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "SAVEE" / "AudioData" / name).touch()
    utterances, ctx = parse(savee.locate(tmp_path))
    assert not ctx.problems and len(utterances) == 480
    assert Counter(u.speaker_id for u in utterances) == dict.fromkeys(savee.SPEAKERS, 120)
    assert Counter(u.emotion for u in utterances)["neutral"] == 4 * 30
