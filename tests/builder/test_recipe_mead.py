"""MEAD recipe: labels, speaker and intensity from path components, contempt policy, packed actors, transcripts."""

import csv
import io
import re
import shutil
import tarfile

import av
import pytest

from mer_builder.audio import load_audio
from mer_builder.demo import mead as mead_demo
from mer_builder.labels import EMOTIONS, LabelPolicy
from mer_builder.recipes import mead
from mer_builder.recipes.common import CorpusError, CorpusLayoutError, ManualDownloadRequired

RECIPE = mead
# A parent path full of words a substring-matching parser would wrongly pick up.
MISLEADING_PARENT = "angry_W009_level_3_contempt"


@pytest.fixture(scope="module")
def demo_parent(tmp_path_factory):
    """Puts the demo below MISLEADING_PARENT, so the path above the corpus folder is full of traps."""
    return tmp_path_factory.mktemp("mead") / MISLEADING_PARENT


@pytest.fixture(scope="module")
def parsed_raw(demo_raw, tmp_path_factory):
    """A copy of the demo for `parsed`, which unpacks W015 in it: `demo_raw` stays as written (W015 packed)."""
    return shutil.copytree(demo_raw, tmp_path_factory.mktemp("mead_parsed") / MISLEADING_PARENT / "raw")


def test_labels_speaker_and_intensity_come_from_the_path_below_the_corpus(parsed_raw, parsed):
    by_id, ctx = parsed
    corpus = parsed_raw / "MEAD"
    assert "angry" in str(corpus) and "W009" in str(corpus)
    for native_id, u in by_id.items():
        actor, audio, folder, level, name = u.source.relative_to(corpus).parts
        assert (audio, u.speaker_id, u.raw_label, u.intensity) == ("audio", actor, folder, level)
        assert u.emotion == mead.LABELS[folder]
        assert native_id == f"{actor}_{folder}_{level}_{name[:3]}" and re.fullmatch(
            r"[MW]\d{3}_\w+_level_\d_\d{3}", native_id
        )
        assert u.gender == {"M": "male", "W": "female"}[actor[0]]
        assert (u.language, u.split, u.dialogue_id, u.utterance_index) == ("en", None, None, None)
    assert {u.emotion for u in by_id.values()} == set(EMOTIONS)
    assert {u.speaker_id for u in by_id.values()} == set(mead_demo.ACTORS)
    assert sum(u.emotion == "anger" for u in by_id.values()) < len(by_id) / 3
    assert ctx.problems == []
    example = by_id["M003_angry_level_1_001"]
    assert (example.speaker_id, example.emotion, example.intensity) == ("M003", "anger", "level_1")


def test_neutral_only_at_level_1_and_other_emotions_at_several_levels(parsed):
    by_id, _ = parsed
    assert {u.intensity for u in by_id.values() if u.raw_label == "neutral"} == {"level_1"}
    assert {u.intensity for u in by_id.values()} == {"level_1", "level_2", "level_3"}


def test_contempt_is_dropped_by_default_and_mapped_by_policy(parsed_raw, parsed, parse):
    by_id, ctx = parsed
    contempt_files = sorted((parsed_raw / "MEAD").glob("*/audio/contempt/*/*.m4a"))
    assert len(contempt_files) == len(mead_demo.ACTORS)
    assert not any(u.raw_label == "contempt" for u in by_id.values())
    assert sorted(d["file"] for d in ctx.drops) == sorted(map(str, contempt_files))
    assert all("--mead_contempt drop" in d["reason"] for d in ctx.drops)
    mapped, mapped_ctx = parse(parsed_raw / "MEAD", policy=LabelPolicy(mead_contempt="map_to_disgust"))
    kept = [u for u in mapped if u.raw_label == "contempt"]
    assert len(kept) == len(contempt_files) and {u.emotion for u in kept} == {"disgust"}
    assert mapped_ctx.drops == [] and len(mapped) == len(by_id) + len(contempt_files)


def test_media_path_is_the_matching_front_video_when_there_is_one(parsed_raw, parsed):
    by_id, _ = parsed
    corpus = parsed_raw / "MEAD"
    for u in by_id.values():
        front = corpus / u.speaker_id / "video" / "front" / u.raw_label / u.intensity / (u.source.stem + ".mp4")
        assert u.media_path == (front if front.is_file() else None)
    assert by_id["M005_sad_level_1_013"].media_path is None  # the demo's missing front video
    assert all("left_30" not in str(u.media_path) for u in by_id.values())  # a side view is never the face video
    with_video = [u for u in by_id.values() if u.media_path]
    assert len(with_video) >= len(by_id) - 12
    with av.open(str(with_video[0].media_path)) as container:
        assert container.streams.video[0].codec_context.name in {"h264", "mpeg4"}


def test_audio_decodes(parsed):
    by_id, _ = parsed
    samples, sr = load_audio(by_id["W011_happy_level_2_010"].source)
    assert sr == 16000 and 1.0 <= len(samples) / sr <= 2.6


def test_a_packed_actor_is_unpacked_safely_once(demo_raw, tmp_path, parse):
    actor = tmp_path / "MEAD" / "W015"
    shutil.copytree(demo_raw / "MEAD" / "W015", actor)
    shutil.copy(demo_raw / "MEAD" / mead.SENTENCES_CSV, actor.parent)
    assert sorted(p.name for p in actor.iterdir()) == ["audio.tar", "video.tar"]
    utterances, ctx = parse(tmp_path / "MEAD")
    assert len(utterances) == 10 and ctx.problems == []
    assert all(u.source.is_file() and u.source.is_relative_to(actor / "audio") for u in utterances)
    assert sorted(p.name for p in actor.iterdir()) == ["audio", "audio.tar", "video.tar"]  # no staging left behind
    # video.tar stays packed: its clips say so instead of silently lacking a face video.
    assert all(u.media_path is None and u.notes == [mead.PACKED_VIDEO_NOTE] for u in utterances)
    first = utterances[0].source
    stamp = first.stat().st_mtime_ns
    again, _ = parse(tmp_path / "MEAD")
    assert [u.native_id for u in again] == [u.native_id for u in utterances]
    assert first.stat().st_mtime_ns == stamp  # not unpacked twice


def test_an_archive_escaping_the_actor_folder_is_refused(tmp_path, parse):
    actor = tmp_path / "MEAD" / "M011"
    actor.mkdir(parents=True)
    with tarfile.open(actor / "audio.tar", "w") as tar:
        payload = b"not audio"
        info = tarfile.TarInfo("../../evil.m4a")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(CorpusError, match="outside"):
        parse(tmp_path / "MEAD")
    utterances, ctx = parse(tmp_path / "MEAD", continue_on_error=True)
    assert utterances == [] and "refusing to extract" in ctx.problems[0]["reason"]
    assert not (tmp_path / "evil.m4a").exists() and not (actor / "audio").exists()


def test_transcripts_come_from_the_sentence_table_or_are_empty_with_a_note(parsed_raw, parsed, tmp_path, parse):
    by_id, _ = parsed
    with open(parsed_raw / "MEAD" / mead.SENTENCES_CSV, encoding="utf-8", newline="") as handle:
        table = {(row["emotion"], int(row["sentence_id"])): row["text"] for row in csv.DictReader(handle)}
    for u in by_id.values():
        if u.speaker_id != "W015":
            assert u.text == table[u.raw_label, int(u.source.stem)] and u.notes == []
        assert not set(EMOTIONS) & set(re.findall(r"[a-z]+", u.text.lower()))
    corpus = tmp_path / "MEAD"
    shutil.copytree(parsed_raw / "MEAD" / "M003", corpus / "M003")
    without, _ = parse(corpus)
    assert without and all(u.text == "" and u.notes == [mead.NO_TRANSCRIPTS_NOTE] for u in without)
    (corpus / mead.SENTENCES_CSV).write_text("emotion,sentence_id,text\nangry,001,Leave now.\n", encoding="utf-8")
    partial = {u.native_id: u for u in parse(corpus)[0]}
    assert partial["M003_angry_level_1_001"].text == "Leave now."
    assert partial["M003_neutral_level_1_001"].notes == ["sentence neutral/001 is not in mead_sentences.csv"]


def test_a_broken_sentence_table_is_a_problem_naming_the_file_and_line(parsed_raw, tmp_path, parse):
    corpus = tmp_path / "MEAD"
    shutil.copytree(parsed_raw / "MEAD" / "M003", corpus / "M003")
    table = corpus / mead.SENTENCES_CSV
    table.write_text("emotion,sentence_id,text\nangry,001,Leave now.\nbored,002,Meh.\nsad,x,\nangry,1,Other.\n")
    with pytest.raises(CorpusError, match=r"mead_sentences\.csv:3: emotion 'bored' is not a MEAD folder"):
        parse(corpus)
    utterances, ctx = parse(corpus, continue_on_error=True)
    assert [p["file"].rsplit(":", 1)[1] for p in ctx.problems] == ["3", "4", "5"]
    assert next(u for u in utterances if u.native_id == "M003_angry_level_1_001").text == "Leave now."
    table.write_bytes(b"emotion,sentence_id,text\nangry,001,Caf\xe9\n")
    bad_byte = r"mead_sentences\.csv:2: not valid UTF-8 \(invalid continuation byte 0xe9 at byte 38 of the file\)"
    with pytest.raises(CorpusError, match=bad_byte):
        parse(corpus)


def test_unknown_emotion_and_stray_files_are_problems_and_stray_folders_are_reported(parsed_raw, tmp_path, parse):
    corpus = tmp_path / "MEAD"
    shutil.copytree(parsed_raw / "MEAD" / "W009", corpus / "W009")
    good = len(parse(corpus)[0])
    bored = corpus / "W009" / "audio" / "bored" / "level_1" / "001.m4a"
    bored.parent.mkdir(parents=True)
    shutil.copy(next((corpus / "W009" / "audio" / "happy").rglob("*.m4a")), bored)
    (corpus / "W009" / "audio" / "happy" / "notes.txt").write_text("x")
    (corpus / "W009" / "audio" / "happy" / ".DS_Store").write_bytes(b"\0")
    (corpus / "renders").mkdir()
    with pytest.raises(CorpusError, match=r"bored/level_1/001\.m4a: unknown raw label 'bored'"):
        parse(corpus)
    utterances, ctx = parse(corpus, continue_on_error=True)
    assert len(utterances) == good
    assert sorted(p["file"].rsplit("/", 1)[-1] for p in ctx.problems) == ["001.m4a", "notes.txt"]
    stray = [d for d in ctx.drops if d["file"] == str(corpus / "renders")]
    assert len(stray) == 1 and "not an actor folder" in stray[0]["reason"]


def test_locate_and_download_explain_the_layout(parsed_raw, tmp_path):
    with pytest.raises(CorpusLayoutError, match="MEAD: corpus folder is missing; expected it to hold <ACTOR>/audio/"):
        mead.locate(tmp_path)
    with pytest.raises(ManualDownloadRequired, match=r"Google Drive.*audio\.tar") as excinfo:
        mead.download(tmp_path)
    assert "<raw_dir>/MEAD/<ACTOR>/" in str(excinfo.value) and "mead_sentences.csv" in str(excinfo.value)
    shutil.copytree(parsed_raw / "MEAD" / "M003", tmp_path / "MEAD" / "Part0" / "M003")
    with pytest.raises(CorpusLayoutError, match=r"it is one folder deeper, at .*Part0: move the contents"):
        mead.locate(tmp_path)
    assert mead.download(parsed_raw) == parsed_raw / "MEAD"


@pytest.mark.slow
def test_demo_is_deterministic(demo_raw, tmp_path):
    mead_demo.write(tmp_path / "MEAD", seed=0)
    ours = sorted(p.relative_to(tmp_path / "MEAD") for p in (tmp_path / "MEAD").rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(demo_raw / "MEAD") for p in (demo_raw / "MEAD").rglob("*") if p.is_file())
    assert ours == theirs
    assert (tmp_path / "MEAD" / mead.SENTENCES_CSV).read_bytes() == (
        demo_raw / "MEAD" / mead.SENTENCES_CSV
    ).read_bytes()
    clip = "M007/audio/fear/level_3/018.m4a"
    assert (load_audio(tmp_path / "MEAD" / clip)[0] == load_audio(demo_raw / "MEAD" / clip)[0]).all()
