"""EmoDB recipe: SSTTTEV names, German sentences, the boredom policy, speaker genders, download and layout."""

import re
import shutil
import zipfile
from collections import Counter

import pytest

from mer_builder.labels import LabelPolicy
from mer_builder.recipes import emodb, get_recipe
from mer_builder.recipes.common import CorpusError, CorpusLayoutError

RECIPE = emodb


def test_module_follows_the_recipe_contract():
    assert get_recipe("emodb") is emodb and (emodb.NAME, emodb.CORPUS, emodb.FOLDER) == ("emodb", "EmoDB", "EmoDB")
    assert Counter(g for g, _ in emodb.SPEAKERS.values()) == {"female": 5, "male": 5} and len(emodb.SENTENCES) == 10
    assert emodb.LANGUAGE == "de" and emodb.LICENCE


def test_every_letter_maps_and_boredom_follows_the_policy(demo_raw, parse):
    utterances, ctx = parse(emodb.locate(demo_raw))
    assert {u.raw_label: u.emotion for u in utterances} == emodb.LABELS
    bored = [p for p in (demo_raw / "EmoDB" / "wav").glob("*.wav") if p.stem[5] == "L"]
    assert len(ctx.drops) == len(bored) >= 10
    assert all("--emodb_boredom map_to_neutral keeps it" in d["reason"] for d in ctx.drops)
    mapped, ctx = parse(emodb.locate(demo_raw), policy=LabelPolicy(emodb_boredom="map_to_neutral"))
    assert not ctx.drops and {u.emotion for u in mapped if u.raw_label == "L"} == {"neutral"}
    assert len(mapped) == len(utterances) + len(bored)


def test_speaker_sentence_gender_and_versions_come_from_the_name(demo_raw, parse):
    utterances, ctx = parse(emodb.locate(demo_raw))
    assert not ctx.problems and len({u.speaker_id for u in utterances}) == 10
    for u in utterances:
        speaker, sentence = u.native_id[:2], u.native_id[2:5]
        assert (u.speaker_id, u.gender, u.language) == (speaker, emodb.SPEAKERS[speaker][0], "de")
        assert u.text == emodb.SENTENCES[sentence]
    versions = Counter(u.native_id[:-1] for u in utterances)
    assert max(versions.values()) == 2  # a second take (version b) is its own utterance


@pytest.mark.parametrize(
    ("name", "message"),
    [("03a01Xa.wav", "unknown raw label 'X'"), ("99a01Fa.wav", "unknown speaker 99"), ("03a1Fa.wav", "not SSTTTEV")],
)
def test_broken_names_are_problems(raw_copy, parse, name, message):
    wav = raw_copy / "EmoDB" / "wav"
    shutil.copy(next(wav.glob("*.wav")), wav / name)
    with pytest.raises(CorpusError, match=re.escape(message)):
        parse(raw_copy / "EmoDB")


def test_the_unzipped_folder_is_found_under_its_own_name(raw_copy, tmp_path):
    (raw_copy / "EmoDB").rename(raw_copy / "emodb")
    assert emodb.locate(raw_copy) == raw_copy / "emodb"
    with pytest.raises(CorpusLayoutError) as info:
        emodb.locate(tmp_path / "nothing")
    assert info.value.absent


def test_download_fetches_and_unpacks_the_zip(demo_raw, tmp_path, monkeypatch, parse):
    served = tmp_path / "served" / "download.zip"
    served.parent.mkdir()
    with zipfile.ZipFile(served, "w") as zf:  # the official zip holds wav/ ... at its top level
        for path in sorted((demo_raw / "EmoDB").rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(demo_raw / "EmoDB").as_posix())
    monkeypatch.setattr(emodb, "URL", served.as_uri())
    raw = tmp_path / "raw"
    assert emodb.download(raw) == raw / "EmoDB"
    assert len(parse(raw / "EmoDB")[0]) == len(parse(demo_raw / "EmoDB")[0])
    served.unlink()
    assert emodb.download(raw) == raw / "EmoDB"  # present: nothing fetched
