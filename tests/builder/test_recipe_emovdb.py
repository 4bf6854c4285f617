"""EmoV-DB recipe: archives and sorted folders, a-prompts (never b), duplicates, sleepiness policy, errors."""

import io
import re
import shutil
import tarfile
from collections import Counter

import pytest

from mer_builder.labels import LabelPolicy
from mer_builder.recipes import emovdb, get_recipe
from mer_builder.recipes.common import CorpusError, CorpusLayoutError, ParseContext

RECIPE = emovdb
SLEEPY_DROPPED = (
    "raw label 'sleepiness' is outside the label space: "
    "dropped by --emovdb_sleepy drop (--emovdb_sleepy map_to_neutral keeps it)"
)
EXPECTED_LABELS = {"amused": "joy", "anger": "anger", "disgust": "disgust", "neutral": "neutral"}


@pytest.fixture
def raw_copy(demo_raw, tmp_path):
    """A private copy of the demo as written, still packed (this overrides the shared full copy).

    Parsing `demo_raw` unpacks its archives into `<speaker>_<Style>/` folders holding a marker: a full copy
    would carry them, and the tests of unpacking would find the work already done. So only the archives,
    the prompts file and the sorted speaker folders are copied.
    """
    source = demo_raw / "EmoV-DB"
    target = tmp_path / "raw" / "EmoV-DB"
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file():
            shutil.copy(path, target / path.name)
        elif path.name in emovdb.SPEAKERS:
            shutil.copytree(path, target / path.name)
    return target.parent


def _prompts(path):
    return dict(re.findall(r'arctic_([ab]\d{4}) "(.*)"', path.read_text(encoding="utf-8")))


def test_module_follows_the_recipe_contract():
    assert get_recipe("emovdb") is emovdb
    assert (emovdb.NAME, emovdb.CORPUS, emovdb.FOLDER) == ("emovdb", "EmoV-DB", "EmoV-DB")
    assert emovdb.SPEAKERS == {"bea": "female", "jenie": "female", "josh": "male", "sam": "male"}
    assert emovdb.LABELS == EXPECTED_LABELS and emovdb.POLICY_LABELS == {"sleepiness": "emovdb_sleepy"}
    assert len(emovdb.archive_names()) == 18 and "josh_Angry.tar.gz" not in emovdb.archive_names()


def test_archives_and_sorted_folders_parse_with_a_prompts(demo_raw, parse):
    corpus = emovdb.locate(demo_raw)
    utterances, ctx = parse(corpus)
    prompts = _prompts(corpus / "cmuarctic.data")
    assert 60 <= len(utterances) <= 150 and not ctx.problems
    for u in utterances:
        style, *_, number = u.source.stem.split("_")
        assert u.native_id == f"{u.speaker_id}_{u.source.stem}" and "/" not in u.native_id
        assert (u.raw_label, u.emotion) == (style, EXPECTED_LABELS[style])
        assert u.text == prompts[f"a{number}"] != prompts[f"b{number}"]  # the a prompt, never the b one
        assert (u.gender, u.language) == (emovdb.SPEAKERS[u.speaker_id], "en")
    assert len({u.native_id for u in utterances}) == len(utterances)
    by_speaker = Counter(u.speaker_id for u in utterances)
    assert by_speaker == {"bea": 20, "jenie": 20, "sam": 20, "josh": 10}  # josh has no anger or disgust
    origins = {u.speaker_id: u.source.parent.relative_to(corpus).parts[0] for u in utterances}
    assert origins["bea"].startswith("bea_") and origins["josh"].startswith("josh_")  # unpacked archives
    assert (origins["jenie"], origins["sam"]) == ("jenie", "sam")  # sorted release


def test_a_file_in_two_places_is_counted_once(demo_raw, parse):
    corpus = emovdb.locate(demo_raw)
    utterances, ctx = parse(corpus)
    duplicates = [d for d in ctx.drops if "duplicate" in d["reason"]]
    assert len(duplicates) == 1
    [only] = [p for p in (corpus / "sam_Amused").glob("*.wav")]
    assert duplicates[0]["file"] == str(only)
    assert duplicates[0]["reason"] == "duplicate of a file already read: counted once"
    assert duplicates[0]["duplicate_of"] == str(corpus / "sam" / "Amused" / only.name)
    assert sum(u.native_id == f"sam_{only.stem}" for u in utterances) == 1


def test_sleepiness_follows_the_policy(demo_raw, parse):
    corpus = emovdb.locate(demo_raw)
    kept, ctx = parse(corpus)
    sleepy_drops = [d for d in ctx.drops if d["reason"] == SLEEPY_DROPPED]
    assert len(sleepy_drops) == 20 and all("sleepiness_" in d["file"] for d in sleepy_drops)
    mapped, _ = parse(corpus, policy=LabelPolicy(emovdb_sleepy="map_to_neutral"))
    sleepy = [u for u in mapped if u.raw_label == "sleepiness"]
    assert len(sleepy) == 20 and {u.emotion for u in sleepy} == {"neutral"} and len(mapped) == len(kept) + 20


def test_archives_are_unpacked_once_beside_themselves(raw_copy, parse):
    corpus = raw_copy / "EmoV-DB"
    assert not (corpus / "bea_Amused").exists()
    first, _ = parse(corpus)
    unpacked = corpus / "bea_Amused"
    with tarfile.open(corpus / "bea_Amused.tar.gz") as archive:
        assert sorted(p.name for p in unpacked.glob("*.wav")) == sorted(archive.getnames())
    mtimes = {p: p.stat().st_mtime_ns for p in unpacked.iterdir()}
    again, _ = parse(corpus)
    assert [u.native_id for u in again] == [u.native_id for u in first]
    assert {p: p.stat().st_mtime_ns for p in unpacked.iterdir()} == mtimes  # not unpacked a second time


def test_a_corrupt_archive_is_a_problem(raw_copy, parse):
    archive = raw_copy / "EmoV-DB" / "josh_Sleepy.tar.gz"
    archive.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(CorpusError, match=r"josh_Sleepy\.tar\.gz: .*corrupt or truncated archive"):
        parse(raw_copy / "EmoV-DB")
    utterances, ctx = parse(raw_copy / "EmoV-DB", continue_on_error=True)
    assert [p["file"] for p in ctx.problems] == [str(archive)] and len(utterances) == 70


def test_missing_prompts_file_is_a_problem_then_empty_text_with_a_note(raw_copy, parse):
    prompts = raw_copy / "EmoV-DB" / "cmuarctic.data"
    prompts.unlink()
    with pytest.raises(CorpusError, match=r"cmuarctic\.data: missing: the transcripts come from it"):
        parse(raw_copy / "EmoV-DB")
    utterances, ctx = parse(raw_copy / "EmoV-DB", continue_on_error=True)
    assert [p["file"] for p in ctx.problems] == [str(prompts)]
    assert len(utterances) == 70 and {u.text for u in utterances} == {""}
    assert {tuple(u.notes) for u in utterances} == {("no transcript: cmuarctic.data is missing",)}


def test_prompt_errors_and_broken_names_are_problems(raw_copy, parse):
    corpus = raw_copy / "EmoV-DB"
    angry = corpus / "sam" / "Angry"
    sample = next(angry.glob("*.wav"))
    shutil.copy(sample, angry / "anger_1-28_0999.wav")  # no such prompt
    shutil.copy(sample, angry / "furious_1-28_0001.wav")  # unknown style
    shutil.copy(sample, angry / "take1.wav")  # no prompt number
    (corpus / "anna_Amused").mkdir()
    shutil.copy(sample, corpus / "anna_Amused" / "amused_1-28_0001.wav")  # unknown speaker
    prompts = corpus / "cmuarctic.data"
    prompts.write_text(prompts.read_text(encoding="utf-8") + "arctic_a0041 missing parentheses\n", encoding="utf-8")
    utterances, ctx = parse(corpus, continue_on_error=True)
    reasons = {p["file"]: p["reason"] for p in ctx.problems}
    assert reasons == {
        f"{prompts}:81": "expected ( arctic_a0001 \"text\" ), got 'arctic_a0041 missing parentheses'",
        str(corpus / "anna_Amused"): "unknown speaker 'anna'; EmoV-DB speakers are ['bea', 'jenie', 'josh', 'sam']",
        str(angry / "anger_1-28_0999.wav"): f"prompt arctic_a0999 is not in {prompts}",
        str(angry / "furious_1-28_0001.wav"): (
            "unknown raw label 'furious'; expected one of ['amused', 'anger', 'disgust', 'neutral', 'sleepiness']"
        ),
        str(angry / "take1.wav"): "file name is not <style>_..._NNNN.wav (style, then the ARCTIC a-prompt number)",
    }
    assert len(utterances) == 70
    with pytest.raises(CorpusError, match=re.escape(f"{prompts}:81")):
        parse(corpus)


def test_locate_explains_a_misplaced_corpus(raw_copy, tmp_path):
    assert emovdb.locate(raw_copy) == raw_copy / "EmoV-DB"
    shutil.move(raw_copy / "EmoV-DB", tmp_path / "EmoV-DB_sorted")
    (raw_copy / "EmoV-DB").mkdir()
    shutil.move(tmp_path / "EmoV-DB_sorted", raw_copy / "EmoV-DB" / "EmoV-DB_sorted")
    assert emovdb.locate(raw_copy) == raw_copy / "EmoV-DB" / "EmoV-DB_sorted"  # the sorted release's own folder
    (raw_copy / "EmoV-DB" / "EmoV-DB_sorted").rename(raw_copy / "EmoV-DB" / "sorted")
    with pytest.raises(CorpusLayoutError, match=r"does not hold OpenSLR archives .*one folder deeper, at .*sorted"):
        emovdb.locate(raw_copy)


def test_download_fetches_missing_archives_and_the_prompts(demo_raw, tmp_path, monkeypatch, parse):
    served = tmp_path / "served"
    served.mkdir()
    for speaker, styles in emovdb.RECORDED_STYLES.items():
        for style in styles:
            # Serve every file the demo has for this style, packed or sorted, as one official-style archive.
            name = f"{speaker}_{style}.tar.gz"
            members = {}
            if (demo_raw / "EmoV-DB" / name).is_file():
                with tarfile.open(demo_raw / "EmoV-DB" / name) as packed:
                    members = {m.name: packed.extractfile(m).read() for m in packed.getmembers() if m.isfile()}
            for path in sorted((demo_raw / "EmoV-DB" / speaker / style).glob("*.wav")):
                members.setdefault(path.name, path.read_bytes())
            with tarfile.open(served / name, "w:gz") as tar:
                for member, data in sorted(members.items()):
                    info = tarfile.TarInfo(member)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    shutil.copy(demo_raw / "EmoV-DB" / "cmuarctic.data", served / "cmuarctic.data")
    monkeypatch.setattr(emovdb, "BASE_URL", served.as_uri() + "/")
    monkeypatch.setattr(emovdb, "PROMPTS_URL", (served / "cmuarctic.data").as_uri())
    raw = tmp_path / "raw"
    (raw / "EmoV-DB" / "jenie" / "Angry").mkdir(parents=True)  # already here: not fetched
    assert emovdb.download(raw) == raw / "EmoV-DB"
    fetched = sorted(p.name for p in (raw / "EmoV-DB").glob("*.tar.gz"))
    assert len(fetched) == 17 and "jenie_Angry.tar.gz" not in fetched
    assert (raw / "EmoV-DB" / "bea_Amused").is_dir() and (raw / "EmoV-DB" / "cmuarctic.data").is_file()
    utterances, ctx = parse(raw / "EmoV-DB")
    assert len(utterances) == 65 and not ctx.problems  # the demo's 70 less jenie's 5 angry files
    shutil.rmtree(served)  # nothing left to fetch: a second call does not touch the network
    assert emovdb.download(raw) == raw / "EmoV-DB"


@pytest.mark.real_data
def test_real_arctic_prompts(real_corpus, raw_copy, parse):
    real = real_corpus("EmoV-DB") / "cmuarctic.data"
    ctx = ParseContext("EmoV-DB")
    prompts = emovdb.read_prompts(real, ctx)
    assert Counter(key[0] for key in prompts) == {"a": 593, "b": 539} and not ctx.problems
    assert prompts["a0011"] == "If I ever needed a fighter in my life I need one now."
    assert prompts["b0011"] == "His eyes never took themselves for an instant from his companion's face."
    shutil.copy(real, raw_copy / "EmoV-DB" / "cmuarctic.data")
    utterances, _ = parse(raw_copy / "EmoV-DB")
    for u in utterances:
        number = u.source.stem[-4:]
        assert u.text == prompts[f"a{number}"] and u.text != prompts[f"b{number}"]
