"""ESD recipe: 3-column transcripts, Chinese labels, language by speaker, flat and split layouts, errors."""

import re
import shutil
from collections import Counter

import numpy as np
import pytest

from mer_builder.audio import load_audio
from mer_builder.labels import EMOTIONS
from mer_builder.recipes import esd, get_recipe
from mer_builder.recipes.common import CorpusError, CorpusLayoutError, ManualDownloadRequired, ParseContext

RECIPE = esd
CHINESE = {"中立": "neutral", "生气": "anger", "快乐": "joy", "伤心": "sadness", "惊喜": "surprise"}
ENGLISH = {"Neutral": "neutral", "Angry": "anger", "Happy": "joy", "Sad": "sadness", "Surprise": "surprise"}
LABEL_WORDS = set(CHINESE) | set(ENGLISH) | set(EMOTIONS)


def _speaker_dir(raw, speaker):
    return raw / "ESD" / "Emotion Speech Dataset" / speaker


def _contains_label_word(text):
    return any(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, flags=re.I) for word in LABEL_WORDS)


def test_module_follows_the_recipe_contract():
    assert get_recipe("esd") is esd
    assert (esd.NAME, esd.CORPUS, esd.FOLDER) == ("esd", "ESD", "ESD")
    assert esd.LABELS == {**ENGLISH, **CHINESE}
    assert [s for s, (lang, _) in esd.SPEAKERS.items() if lang == "zh"] == [f"{n:04d}" for n in range(1, 11)]
    assert [s for s, (lang, _) in esd.SPEAKERS.items() if lang == "en"] == [f"{n:04d}" for n in range(11, 21)]
    for language in ("zh", "en"):  # five female and five male speakers per language
        genders = Counter(g for lang, g in esd.SPEAKERS.values() if lang == language)
        assert genders == {"female": 5, "male": 5}


def test_demo_parses_with_labels_languages_and_clean_transcripts(demo_raw, parse):
    corpus = esd.locate(demo_raw)
    utterances, ctx = parse(corpus)
    assert len(utterances) == 120 and not ctx.drops and not ctx.problems
    lines = {}
    for speaker_txt in corpus.rglob("00*.txt"):
        for line in speaker_txt.read_text(encoding="utf-8").splitlines():
            utt_id, text, label = line.split("\t")
            lines[utt_id] = (text, label)
    for u in utterances:
        language, gender = esd.SPEAKERS[u.speaker_id]
        assert u.native_id == u.source.stem and u.native_id.startswith(u.speaker_id + "_")
        assert (u.language, u.gender) == (language, gender)
        assert u.language == ("zh" if int(u.speaker_id) <= 10 else "en")
        text, label = lines[u.native_id]
        assert u.text == text and u.raw_label == label.strip()
        assert not _contains_label_word(u.text), u.text  # the emotion column never leaks into the transcript
        assert u.emotion == (CHINESE if language == "zh" else ENGLISH)[u.raw_label]
        emotion_folder = u.source.parent if u.source.parent.name in ENGLISH else u.source.parent.parent
        assert ENGLISH[emotion_folder.name] == u.emotion
    assert {u.raw_label for u in utterances if u.language == "zh"} == set(CHINESE)
    assert {u.raw_label for u in utterances if u.language == "en"} == set(ENGLISH)
    assert len({u.native_id for u in utterances}) == len(utterances)


def test_flat_and_split_subfolder_layouts_are_both_read(demo_raw, parse):
    utterances, _ = parse(esd.locate(demo_raw))
    layout = {}
    for u in utterances:
        layout.setdefault(u.speaker_id, set()).add(u.source.parent.name)
    assert sorted(s for s, folders in layout.items() if folders == set(ENGLISH)) == ["0001", "0010", "0011", "0016"]
    split_speakers = sorted(s for s, folders in layout.items() if folders == {"train", "evaluation", "test"})
    assert split_speakers == ["0004", "0009", "0015", "0020"]
    assert Counter(u.speaker_id for u in utterances) == {s: 15 for s in layout}


def test_trailing_space_in_the_label_column_is_stripped(demo_raw, parse):
    txt = (_speaker_dir(demo_raw, "0016") / "0016.txt").read_text(encoding="utf-8")
    assert "\tSurprise \n" in txt
    utterances, _ = parse(esd.locate(demo_raw))
    surprise = [u for u in utterances if u.speaker_id == "0016" and u.emotion == "surprise"]
    assert len(surprise) == 3 and {u.raw_label for u in surprise} == {"Surprise"}


def test_speaker_folders_may_sit_directly_in_the_corpus_folder(raw_copy, parse):
    inner = raw_copy / "ESD" / "Emotion Speech Dataset"
    for speaker in list(inner.iterdir()):
        shutil.move(speaker, raw_copy / "ESD" / speaker.name)
    inner.rmdir()
    utterances, _ = parse(esd.locate(raw_copy))
    assert len(utterances) == 120


def _first_line_of(txt, utt_id):
    return next(i for i, line in enumerate(txt.read_text(encoding="utf-8").splitlines(), 1) if line.startswith(utt_id))


@pytest.mark.parametrize(
    ("new_line", "message"),
    [
        ("{id}\t{text}", "expected id<TAB>text<TAB>emotion, got 2 column(s)"),
        ("{id} {text} Angry", "expected id<TAB>text<TAB>emotion, got 1 column(s)"),
        ("{id}\t\tAngry", "empty transcript for {id}"),
        ("{id}\t{text}\tFurious", "unknown emotion 'Furious'"),
    ],
)
def test_malformed_transcript_lines_name_the_file_and_line(raw_copy, new_line, message, parse):
    speaker_dir = _speaker_dir(raw_copy, "0011")
    wav = sorted((speaker_dir / "Angry").glob("*.wav"))[0]
    txt = speaker_dir / "0011.txt"
    lines = txt.read_text(encoding="utf-8").splitlines()
    number = _first_line_of(txt, wav.stem)
    text = lines[number - 1].split("\t")[1]
    lines[number - 1] = new_line.format(id=wav.stem, text=text)
    txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=re.escape(f"{txt}:{number}: {message.format(id=wav.stem)}")):
        parse(raw_copy / "ESD")
    utterances, ctx = parse(raw_copy / "ESD", continue_on_error=True)
    # The bad line is reported, then its wav has no usable line: both are problems, the rest is kept.
    assert [p["file"] for p in ctx.problems] == [f"{txt}:{number}", str(wav)]
    assert len(utterances) == 119


def test_a_missing_transcript_file_is_a_problem(raw_copy, parse):
    txt = _speaker_dir(raw_copy, "0004") / "0004.txt"
    txt.unlink()
    with pytest.raises(CorpusError, match=re.escape(f"{txt}: missing transcript file for the 15 wavs of speaker 0004")):
        parse(raw_copy / "ESD")
    utterances, ctx = parse(raw_copy / "ESD", continue_on_error=True)
    assert len(utterances) == 105 and [p["file"] for p in ctx.problems] == [str(txt)]


def test_label_and_folder_must_agree(raw_copy, parse):
    speaker_dir = _speaker_dir(raw_copy, "0001")
    moved = speaker_dir / "Happy" / sorted((speaker_dir / "Sad").glob("*.wav"))[0].name
    shutil.move(speaker_dir / "Sad" / moved.name, moved)
    with pytest.raises(CorpusError, match=r"0001\.txt:\d+ labels it '伤心' but the wav is in the Happy/ folder"):
        parse(raw_copy / "ESD")


def test_unknown_speakers_folders_and_names_are_problems(raw_copy, parse):
    root = raw_copy / "ESD" / "Emotion Speech Dataset"
    shutil.copytree(root / "0011", root / "0021")
    (root / "0015" / "Calm").mkdir()
    shutil.copy(next((root / "0015" / "Angry" / "train").glob("*.wav")), root / "0015" / "Calm" / "0015_000001.wav")
    shutil.copy(next((root / "0011" / "Angry").glob("*.wav")), root / "0011" / "Angry" / "0012_000351.wav")
    (root / "0020" / "Sad" / "dev").mkdir()
    shutil.copy(next((root / "0020" / "Sad" / "test").glob("*.wav")), root / "0020" / "Sad" / "dev" / "0020_001060.wav")
    utterances, ctx = parse(raw_copy / "ESD", continue_on_error=True)
    reasons = {p["file"]: p["reason"] for p in ctx.problems}
    assert reasons == {
        str(
            root / "0015" / "Calm"
        ): "unknown emotion folder; expected one of ['Angry', 'Happy', 'Neutral', 'Sad', 'Surprise']",
        str(root / "0021"): "unknown speaker 0021; ESD speakers are 0001-0020",
        str(root / "0011" / "Angry" / "0012_000351.wav"): "file name is not 0011_NNNNNN.wav",
        str(root / "0020" / "Sad" / "dev" / "0020_001060.wav"): (
            f"unexpected folder; wavs sit in {root / '0020' / 'Sad'}/ or its ['evaluation', 'test', 'train'] subfolders"
        ),
    }
    assert len(utterances) == 120


def test_a_wav_present_flat_and_in_a_subfolder_is_counted_once(raw_copy, parse):
    angry = _speaker_dir(raw_copy, "0020") / "Angry"
    copy = angry / next((angry / "train").glob("*.wav")).name
    shutil.copy(next((angry / "train").glob("*.wav")), copy)
    utterances, ctx = parse(raw_copy / "ESD")
    assert len(utterances) == 120
    assert [d["file"] for d in ctx.drops] == [str(angry / "train" / copy.name)]
    assert ctx.drops[0]["reason"] == "duplicate of a file already read: counted once"
    assert ctx.drops[0]["duplicate_of"] == str(copy)


def test_locate_and_download_explain_what_is_missing(raw_copy, tmp_path):
    assert esd.locate(raw_copy) == raw_copy / "ESD" == esd.download(raw_copy)
    with pytest.raises(ManualDownloadRequired, match=r"Google Drive .*Emotion Speech Dataset/0001/0001\.txt"):
        esd.download(tmp_path)
    shutil.move(raw_copy / "ESD", raw_copy / "Emotional Speech Dataset (ESD)")
    assert esd.locate(raw_copy) == raw_copy / "Emotional Speech Dataset (ESD)"  # the zip's own name, as it lands
    shutil.move(raw_copy / "Emotional Speech Dataset (ESD)", raw_copy / "esd-copy")
    with pytest.raises(CorpusLayoutError, match=r"found it at .*esd-copy: move or rename"):
        esd.locate(raw_copy)


@pytest.mark.real_data
def test_real_transcripts_of_all_20_speakers(real_corpus):
    root = real_corpus("ESD") / "Emotion Speech Dataset"
    ctx = ParseContext("ESD")  # raises on any malformed line
    for speaker, (language, _) in esd.SPEAKERS.items():
        lines = esd.read_transcripts(root / speaker / f"{speaker}.txt", ctx)
        assert len(lines) == 1750 and set(lines) == {f"{speaker}_{n:06d}" for n in range(1, 1751)}
        labels = Counter(esd.LABELS[line.raw_label] for line in lines.values())
        assert labels == {"neutral": 350, "anger": 350, "joy": 350, "sadness": 350, "surprise": 350}
        assert {line.raw_label for line in lines.values()} == set(CHINESE if language == "zh" else ENGLISH)
        for utt_id, line in lines.items():
            block = (int(utt_id[-6:]) - 1) // 350  # ids come in emotion blocks: Neutral, Angry, Happy, Sad, Surprise
            assert esd.LABELS[line.raw_label] == list(esd.EMOTION_FOLDERS.values())[block]
            # The transcript is the text column alone (some sentences do contain words like "joy").
            assert line.text and "\t" not in line.text and not line.text.endswith(line.raw_label), line.where
    assert not ctx.problems


@pytest.mark.real_data
def test_real_speaker_0020_wavs(real_corpus, parse):
    utterances, ctx = parse(esd.locate(real_corpus("ESD").parent))
    assert len(utterances) == 100 and not ctx.problems and not ctx.drops
    assert Counter(u.emotion for u in utterances) == {e: 20 for e in ENGLISH.values()}
    assert {(u.speaker_id, u.language, u.gender) for u in utterances} == {("0020", "en", "male")}
    first = next(u for u in utterances if u.native_id == "0020_000351")
    assert (first.text, first.raw_label, first.emotion) == ("The nine the eggs, I keep.", "Angry", "anger")
    # The ReadMe's "0020: English Male" agrees with the voice: a median F0 in the male range.
    import librosa

    f0s = []
    for u in sorted(utterances, key=lambda u: u.native_id)[:5]:
        samples, sr = load_audio(u.source)
        assert sr == 16000
        f0s.append(np.median(librosa.yin(samples, fmin=60, fmax=400, sr=sr)))
    assert np.median(f0s) < 150
