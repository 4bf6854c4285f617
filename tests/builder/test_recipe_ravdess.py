"""RAVDESS recipe: file-name codes, calm policy, speech-only, AV media, stereo and extra-chunk wavs, layout errors."""

import re
import shutil
import struct
import zipfile
from collections import Counter

import pytest
import soundfile as sf

from mer_builder.audio import load_audio
from mer_builder.labels import LabelPolicy
from mer_builder.recipes import get_recipe, ravdess
from mer_builder.recipes.common import CorpusError, CorpusLayoutError

RECIPE = ravdess
CALM_DROPPED = (
    "raw label 'calm' is outside the label space: "
    "dropped by --ravdess_calm drop (--ravdess_calm map_to_neutral keeps it)"
)
EXPECTED_LABELS = {
    "01": ("neutral", "neutral"),
    "03": ("happy", "joy"),
    "04": ("sad", "sadness"),
    "05": ("angry", "anger"),
    "06": ("fearful", "fear"),
    "07": ("disgust", "disgust"),
    "08": ("surprised", "surprise"),
}


def _riff_chunks(path):
    data = path.read_bytes()
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4].decode("latin-1"), struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunks.append(chunk_id)
        pos += 8 + size + (size & 1)
    return chunks


def test_module_follows_the_recipe_contract():
    assert get_recipe("ravdess") is ravdess
    assert (ravdess.NAME, ravdess.CORPUS, ravdess.FOLDER) == ("ravdess", "RAVDESS", "RAVDESS")


def test_every_code_maps_as_the_corpus_defines(demo_raw, parse):
    utterances, ctx = parse(ravdess.locate(demo_raw))
    assert 60 <= len(utterances) <= 150
    for u in utterances:
        trial = ravdess.parse_file_name(u.native_id)
        assert u.native_id == u.source.stem and u.source.suffix == ".wav"
        assert (trial.modality, trial.vocal_channel) == ("03", "01")
        assert (u.raw_label, u.emotion) == EXPECTED_LABELS[trial.emotion]
        assert u.text == {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}[trial.statement]
        assert u.intensity == {"01": "normal", "02": "strong"}[trial.intensity]
        actor = int(trial.actor)
        assert u.speaker_id == f"Actor_{actor:02d}" == u.source.parent.name
        assert u.gender == ("male" if actor % 2 else "female")
        assert (u.language, u.dataset, u.split) == ("en", "RAVDESS", None)
        assert u.id == f"RAVDESS/{u.native_id}" and "/" not in u.native_id
    assert len({u.native_id for u in utterances}) == len(utterances)
    assert {u.emotion for u in utterances} == {"anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"}
    assert len({u.speaker_id for u in utterances}) == 8
    assert not ctx.problems


def test_calm_follows_the_policy(demo_raw, parse):
    corpus = ravdess.locate(demo_raw)
    dropped, ctx = parse(corpus)
    calm_files = sorted(p for p in corpus.rglob("03-01-02-*.wav"))
    assert calm_files, "the demo must contain calm files"
    calm_drops = [d for d in ctx.drops if d["reason"] == CALM_DROPPED]
    assert sorted(d["file"] for d in calm_drops) == [str(p) for p in calm_files]
    assert not any(u.raw_label == "calm" for u in dropped)

    mapped, ctx = parse(corpus, policy=LabelPolicy(ravdess_calm="map_to_neutral"))
    calm = [u for u in mapped if u.raw_label == "calm"]
    assert len(calm) == len(calm_files) and {u.emotion for u in calm} == {"neutral"}
    assert len(mapped) == len(dropped) + len(calm_files)
    assert not any("calm" in d["reason"] for d in ctx.drops)


def test_song_files_are_dropped_and_counted(demo_raw, parse):
    corpus = ravdess.locate(demo_raw)
    utterances, ctx = parse(corpus)
    songs = sorted(str(p) for p in corpus.rglob("03-02-*.wav"))
    assert len(songs) == 8
    assert sorted(d["file"] for d in ctx.drops if d["reason"].startswith("song")) == songs
    assert not any(u.native_id.startswith("03-02") for u in utterances)


def test_audio_video_files_become_media_of_their_trial(demo_raw, parse):
    corpus = ravdess.locate(demo_raw)
    utterances, ctx = parse(corpus)
    with_media = {u.native_id: u.media_path for u in utterances if u.media_path}
    assert len(with_media) == 3
    for native_id, media in with_media.items():
        assert media.name == "01" + native_id[2:] + ".mp4" and media.is_file()
    reasons = {d["file"].rsplit("/", 1)[-1]: d["reason"] for d in ctx.drops if d["file"].endswith(".mp4")}
    video_only = [name for name in reasons if name.startswith("02-")]
    orphans = [name for name in reasons if name.startswith("01-")]
    assert len(video_only) == 1 and "full audio-video (01) file of the trial is the media" in reasons[video_only[0]]
    assert len(orphans) == 1 and "no audio-only (03) file" in reasons[orphans[0]]
    assert "01" + video_only[0][2:] in {m.name for m in with_media.values()}
    # The full-AV clip carries decodable audio of the same length as its audio-only twin.
    native_id, media = next(iter(with_media.items()))
    video_audio, _ = load_audio(media)
    wav_audio, _ = load_audio(corpus / media.parent.name / f"{native_id}.wav")
    assert abs(len(video_audio) - len(wav_audio)) < 0.05 * 16000


def test_stereo_and_extra_chunk_wavs_decode_to_mono(demo_raw):
    wavs = sorted(ravdess.locate(demo_raw).rglob("03-01-*.wav"))
    stereo = [p for p in wavs if sf.info(p).channels == 2]
    assert len(stereo) == 3
    assert all(sf.info(p).samplerate == 48000 and sf.info(p).subtype == "PCM_16" for p in wavs)
    layouts = {tuple(_riff_chunks(p)) for p in wavs}
    assert layouts == {("fmt ", "LIST", "data"), ("fmt ", "FLLR", "data")}
    for path in [*stereo, wavs[0], wavs[1]]:
        samples, sr = load_audio(path)
        assert sr == 16000 and samples.ndim == 1
        assert len(samples) == pytest.approx(sf.info(path).frames / 3, abs=2)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("03-01-09-01-01-01-01.wav", "unknown emotion code '09'"),
        ("03-01-03-01-03-01-01.wav", "unknown statement code '03'"),
        ("04-01-03-01-01-01-01.wav", "unknown modality code '04'"),
        ("03-01-03-03-01-01-01.wav", "unknown intensity code '03'"),
        ("03-01-01-02-01-01-01.wav", "neutral (emotion 01) has only normal intensity"),
        ("03-01-03-01-01-01-02.wav", "actor code 02 does not match its folder Actor_01"),
        ("01-01-03-01-01-01-01.wav", "should be a .mp4 file"),
        ("take 3.wav", "is not MM-VC-EE-II-SS-RR-AA"),
    ],
)
def test_broken_file_names_are_clear_errors(raw_copy, name, message, parse):
    bad = raw_copy / "RAVDESS" / "Actor_01" / name
    shutil.copy(next((raw_copy / "RAVDESS" / "Actor_01").glob("03-01-*.wav")), bad)
    with pytest.raises(CorpusError, match=re.escape(message)) as info:
        parse(raw_copy / "RAVDESS")
    assert info.value.path == str(bad) and info.value.corpus == "RAVDESS"


def test_continue_on_error_reports_every_broken_file_and_keeps_the_rest(raw_copy, demo_raw, parse):
    good, _ = parse(ravdess.locate(demo_raw))
    actor = raw_copy / "RAVDESS" / "Actor_01"
    sample = next(actor.glob("03-01-*.wav"))
    for name in ("03-01-09-01-01-01-01.wav", "03-01-03-01-03-01-01.wav", "readme.wav"):
        shutil.copy(sample, actor / name)
    (actor / "notes.txt").write_text("not media: ignored")
    utterances, ctx = parse(raw_copy / "RAVDESS", continue_on_error=True)
    assert len(ctx.problems) == 3 and {p["file"].rsplit("/", 1)[-1] for p in ctx.problems} == {
        "03-01-09-01-01-01-01.wav",
        "03-01-03-01-03-01-01.wav",
        "readme.wav",
    }
    assert [u.native_id for u in utterances] == [u.native_id for u in good]


def test_locate_explains_a_misplaced_corpus(raw_copy, tmp_path):
    assert ravdess.locate(raw_copy) == raw_copy / "RAVDESS"
    with pytest.raises(CorpusLayoutError, match="is the corpus folder itself"):
        ravdess.locate(raw_copy / "RAVDESS")
    nested = tmp_path / "nested"
    shutil.copytree(raw_copy / "RAVDESS", nested / "RAVDESS" / "speech")
    with pytest.raises(CorpusLayoutError, match=r"one folder deeper, at .*speech: move the contents"):
        ravdess.locate(nested)
    renamed = tmp_path / "renamed"
    shutil.copytree(raw_copy / "RAVDESS", renamed / "ravdess-speech")
    with pytest.raises(CorpusLayoutError, match=r"found it at .*ravdess-speech: move or rename it to .*RAVDESS"):
        ravdess.locate(renamed)
    with pytest.raises(CorpusLayoutError, match=r"RAVDESS: corpus folder is missing; expected .*Actor_XX"):
        ravdess.locate(tmp_path / "empty")


def test_the_folder_the_zip_is_unpacked_into_is_used_with_a_note(raw_copy, tmp_path):
    from mer_builder.pipeline import found_elsewhere_note

    for raw in (tmp_path / "flat", tmp_path / "inside"):
        target = (raw if raw.name == "flat" else raw / "RAVDESS") / "Audio_Speech_Actors_01-24"
        shutil.copytree(raw_copy / "RAVDESS", target)
        assert ravdess.locate(raw) == target
        note = found_elsewhere_note(ravdess, target, raw)
        assert note == f"found in {target}, the folder its archive unpacks to (not {raw / 'RAVDESS'}); used as it is"
    assert found_elsewhere_note(ravdess, raw_copy / "RAVDESS", raw_copy) is None


def test_download_fetches_and_unpacks_the_zenodo_zip(demo_raw, tmp_path, monkeypatch, parse):
    served = tmp_path / "served" / ravdess.ARCHIVE
    served.parent.mkdir()
    with zipfile.ZipFile(served, "w") as zf:
        for path in sorted((demo_raw / "RAVDESS").rglob("03-01-*.wav")):
            zf.write(path, f"{path.parent.name}/{path.name}")
    monkeypatch.setattr(ravdess, "URL", served.as_uri())
    raw = tmp_path / "raw"
    assert ravdess.download(raw) == raw / "RAVDESS"
    assert (raw / "RAVDESS" / ravdess.ARCHIVE).is_file()
    utterances, _ = parse(raw / "RAVDESS")
    assert len(utterances) == len(parse(demo_raw / "RAVDESS")[0])
    served.unlink()  # a second call finds the corpus and fetches nothing
    assert ravdess.download(raw) == raw / "RAVDESS"


@pytest.mark.real_data
def test_real_actors_all_present_parse(real_corpus, parse):
    corpus = ravdess.locate(real_corpus("RAVDESS").parent)
    actors = sorted(p.name for p in corpus.glob("Actor_*"))
    n = len(actors)
    assert n >= 8  # the shared sample holds actors 01-08 (480 wavs)
    utterances, ctx = parse(corpus)
    assert len(utterances) == 52 * n and not ctx.problems  # 60 files per actor, minus 8 calm
    assert len(ctx.drops) == 8 * n and all("'calm'" in d["reason"] for d in ctx.drops)
    assert Counter(u.speaker_id for u in utterances) == {a: 52 for a in actors}
    assert {u.speaker_id: u.gender for u in utterances} == {
        a: "male" if int(a.split("_")[1]) % 2 else "female" for a in actors
    }
    assert Counter(u.emotion for u in utterances) == {
        "neutral": 4 * n,
        **{e: 8 * n for e in ("joy", "sadness", "anger", "fear", "disgust", "surprise")},
    }
    assert Counter(u.text for u in utterances) == {
        "Kids are talking by the door.": 26 * n,
        "Dogs are sitting by the door.": 26 * n,
    }
    mapped, _ = parse(corpus, policy=LabelPolicy(ravdess_calm="map_to_neutral"))
    assert len(mapped) == 60 * n


@pytest.mark.real_data
def test_real_stereo_and_extra_chunk_files_load(real_corpus):
    folder = real_corpus("RAVDESS") / "Actor_01"
    stereo = sorted(p for p in folder.glob("*.wav") if sf.info(p).channels == 2)
    assert [p.name for p in stereo] == ["03-01-02-01-01-02-01.wav", "03-01-08-01-02-02-01.wav"]
    mono = folder / "03-01-05-01-01-01-01.wav"
    for path in [*stereo, mono]:
        assert _riff_chunks(path)[:3] == ["fmt ", "FLLR", "data"]  # an extra chunk before the samples
        info = sf.info(path)
        samples, sr = load_audio(path)
        assert sr == 16000 and samples.ndim == 1
        assert len(samples) == pytest.approx(info.frames / 3, abs=2)
        assert 0.01 < float(abs(samples).max()) <= 1.0


def test_locate_suggests_the_right_raw_dir(demo_raw):
    with pytest.raises(
        CorpusLayoutError, match=re.escape(f"found it at {demo_raw / 'RAVDESS'}: pass --raw_dir {demo_raw}")
    ):
        ravdess.locate(demo_raw.parent)
