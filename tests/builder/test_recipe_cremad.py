"""CREMA-D recipe: clip-name codes, the 12 sentences, demographics, video, LFS pointers, layout errors."""

import re
import shutil
from collections import Counter

import pytest

from mer_builder.recipes import cremad, get_recipe
from mer_builder.recipes.common import CorpusError, CorpusLayoutError, ManualDownloadRequired, ParseContext

RECIPE = cremad
EXPECTED_LABELS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "joy", "NEU": "neutral", "SAD": "sadness"}


def test_module_follows_the_recipe_contract():
    assert get_recipe("cremad") is cremad and get_recipe("cremadh") is cremad
    assert (cremad.NAME, cremad.CORPUS, cremad.FOLDER) == ("cremad", "CREMA-D", "CREMA-D")
    assert cremad.LABELS == EXPECTED_LABELS
    assert sorted(cremad.SENTENCES) == sorted(
        ["IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"]
    )


def test_demo_clips_parse_with_every_fact(demo_raw, parse):
    corpus = cremad.locate(demo_raw)
    utterances, ctx = parse(corpus)
    assert 60 <= len(utterances) <= 150 and not ctx.drops and not ctx.problems
    assert len(utterances) == len(list((corpus / "AudioWAV").glob("*.wav")))
    for u in utterances:
        actor, sentence, emotion, level = u.native_id.split("_")
        assert u.source == corpus / "AudioWAV" / f"{u.native_id}.wav"
        assert (u.speaker_id, u.raw_label, u.emotion) == (actor, emotion, EXPECTED_LABELS[emotion])
        assert u.text == cremad.SENTENCES[sentence] and u.text.endswith(".")
        assert u.intensity == {"LO": "low", "MD": "medium", "HI": "high", "XX": None}[level]
        assert (u.language, u.split, u.dataset) == ("en", None, "CREMA-D")
    assert len({u.native_id for u in utterances}) == len(utterances)
    assert {u.text for u in utterances} == set(cremad.SENTENCES.values())
    assert {u.emotion for u in utterances} == set(EXPECTED_LABELS.values())


def test_gender_comes_from_the_demographics_file(demo_raw, raw_copy, parse):
    utterances, _ = parse(cremad.locate(demo_raw))
    genders = {u.speaker_id: u.gender for u in utterances}
    assert genders == {
        "1001": "male",
        "1002": "female",
        "1003": "female",
        "1004": "female",
        "1005": "male",
        "1006": "female",
        "1011": "male",
        "1014": None,  # not listed in VideoDemographics.csv: unknown, not guessed
    }
    (raw_copy / "CREMA-D" / "VideoDemographics.csv").unlink()
    without, _ = parse(raw_copy / "CREMA-D")
    assert len(without) == len(utterances) and {u.gender for u in without} == {None}


def test_malformed_demographics_is_a_problem(raw_copy, parse):
    table = raw_copy / "CREMA-D" / "VideoDemographics.csv"
    table.write_text('"ActorID","Age","Sex"\n1001,51,"M"\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"VideoDemographics\.csv:2: expected a 4-digit ActorID and Sex"):
        parse(raw_copy / "CREMA-D")
    utterances, ctx = parse(raw_copy / "CREMA-D", continue_on_error=True)
    assert len(ctx.problems) == 1 and utterances and {u.gender for u in utterances} == {None}


def test_a_demographics_row_that_is_not_utf8_costs_that_actor_alone(raw_copy, parse):
    table = raw_copy / "CREMA-D" / "VideoDemographics.csv"
    table.write_bytes(b'"ActorID","Age","Sex"\n1001,51,"Male"\n1002,21,"Fem\xe4le"\n1003,21,"Female"\n')
    utterances, ctx = parse(raw_copy / "CREMA-D", continue_on_error=True)
    assert ctx.problems == [
        {
            "dataset": "CREMA-D",
            "file": f"{table}:3",
            "reason": "not valid UTF-8 (invalid continuation byte 0xe4 at byte 49 of the file)",
        }
    ]
    genders = {u.speaker_id: u.gender for u in utterances}
    assert (genders["1001"], genders["1002"], genders["1003"]) == ("male", None, "female")


def test_videos_are_attached_as_media(demo_raw, parse):
    utterances, _ = parse(cremad.locate(demo_raw))
    media = {u.native_id: u.media_path for u in utterances if u.media_path}
    assert len(media) == 3
    for native_id, path in media.items():
        assert path.name == f"{native_id}.flv" and path.parent.name == "VideoFlash" and path.is_file()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("1001_XYZ_ANG_XX", "unknown sentence code 'XYZ'"),
        ("1001_DFA_JOY_XX", "unknown emotion code 'JOY'"),
        ("1001_DFA_ANG_ZZ", "unknown emotion level code 'ZZ'"),
        ("1001_DFA_ANG", "is not AAAA_SSS_EEE_LL"),
        ("1001-DFA-ANG-XX", "is not AAAA_SSS_EEE_LL"),
    ],
)
def test_unknown_codes_are_errors_never_placeholders(raw_copy, name, message, parse):
    audio = raw_copy / "CREMA-D" / "AudioWAV"
    shutil.copy(next(audio.glob("*.wav")), audio / f"{name}.wav")
    with pytest.raises(CorpusError, match=re.escape(message)) as info:
        parse(raw_copy / "CREMA-D")
    assert info.value.path == str(audio / f"{name}.wav")
    utterances, ctx = parse(raw_copy / "CREMA-D", continue_on_error=True)
    assert [p["file"] for p in ctx.problems] == [str(audio / f"{name}.wav")]
    assert name not in {u.native_id for u in utterances}


def test_git_lfs_pointer_files_say_how_to_fetch_the_audio(raw_copy, parse):
    audio = raw_copy / "CREMA-D" / "AudioWAV"
    pointer = sorted(audio.glob("*.wav"))[0]
    pointer.write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 75630\n", encoding="ascii"
    )
    with pytest.raises(CorpusError, match=r"a git-LFS pointer, not audio.*git lfs pull --include \"AudioWAV/\*\"") as e:
        parse(raw_copy / "CREMA-D")
    assert e.value.path == str(pointer)
    utterances, ctx = parse(raw_copy / "CREMA-D", continue_on_error=True)
    assert len(ctx.problems) == 1 and pointer.stem not in {u.native_id for u in utterances}


def test_download_gives_placement_instructions_or_the_corpus(demo_raw, tmp_path):
    assert cremad.download(demo_raw) == demo_raw / "CREMA-D"
    with pytest.raises(ManualDownloadRequired) as info:
        cremad.download(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "CREMA-D") in message
    for needed in ("git-lfs", "git lfs pull", "CheyneyComputerScience/CREMA-D", "crema-d-mirror", "AudioWAV"):
        assert needed in message


def test_locate_explains_a_misplaced_corpus(raw_copy, tmp_path):
    assert cremad.locate(raw_copy) == raw_copy / "CREMA-D"
    shutil.move(raw_copy / "CREMA-D", raw_copy / "CREMA-D-master")
    assert cremad.locate(raw_copy) == raw_copy / "CREMA-D-master"  # GitHub's zip folder, used where it lands
    shutil.move(raw_copy / "CREMA-D-master", raw_copy / "crema-copy")
    with pytest.raises(CorpusLayoutError, match=r"missing; expected it to hold AudioWAV/.*found it at .*crema-copy"):
        cremad.locate(raw_copy)
    (tmp_path / "bare" / "CREMA-D").mkdir(parents=True)
    with pytest.raises(CorpusLayoutError, match=r"CREMA-D: corpus folder does not hold AudioWAV/AAAA_SSS_EEE_LL\.wav$"):
        cremad.locate(tmp_path / "bare")


@pytest.mark.real_data
def test_real_sentence_table_and_demographics(real_corpus):
    folder = real_corpus("CREMA-D")
    names = cremad.read_sentence_table(folder / "SentenceFilenames.csv")
    clips = [cremad.parse_clip_name(name) for name in names]  # every one of the 7,442 names parses
    assert len(clips) == len(set(names)) == 7442
    assert Counter(c.emotion for c in clips) == {
        "ANG": 1271,
        "DIS": 1271,
        "FEA": 1271,
        "HAP": 1271,
        "SAD": 1271,
        "NEU": 1087,
    }
    assert Counter(c.sentence for c in clips)["IEO"] == 1456  # IEO is also said at three emotion levels
    assert {c.level for c in clips if c.sentence != "IEO"} == {"XX"}
    genders = cremad.read_demographics(folder / "VideoDemographics.csv", ParseContext(cremad.CORPUS))
    assert len(genders) == 91 and Counter(genders.values()) == {"male": 48, "female": 43}
    assert {c.actor for c in clips} == set(genders)
    assert (genders["1001"], genders["1002"]) == ("male", "female")


@pytest.mark.real_data
def test_sentence_and_emotion_codes_match_the_corpus_readme(real_corpus):
    readme = (real_corpus("CREMA-D") / "README.md").read_text(encoding="utf-8")
    listed = {code: text for text, code in re.findall(r"^- (.+?) \(([A-Z]{3})\)", readme, flags=re.M)}
    assert {code: listed[code] for code in cremad.SENTENCES} == {c: t.rstrip(".") for c, t in cremad.SENTENCES.items()}
    emotions = {code: listed[code] for code in set(listed) - set(cremad.SENTENCES)}
    assert emotions == {
        "ANG": "Anger",
        "DIS": "Disgust",
        "FEA": "Fear",
        "HAP": "Happy/Joy",
        "NEU": "Neutral",
        "SAD": "Sad",
    }
    assert set(emotions) == set(cremad.LABELS)
