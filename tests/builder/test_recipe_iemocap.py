"""IEMOCAP recipe: speaker from the utterance suffix, exc/fru/xxx/oth, turn order, CRLF transcripts, broken inputs."""

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from mer_builder.demo import iemocap as iemocap_demo
from mer_builder.labels import EMOTIONS, LabelPolicy
from mer_builder.recipes import iemocap
from mer_builder.recipes.common import CorpusError, CorpusLayoutError, ManualDownloadRequired

RECIPE = iemocap
EVALUATION_TURN = re.compile(r"^\[([\d.]+) - ([\d.]+)\]\t(\S+)\t(\w+)\t")


def _evaluation_turns(path):
    """(start, name, label) per turn line, in file order: read independently of the recipe."""
    return [
        (float(m.group(1)), m.group(3), m.group(4))
        for m in map(EVALUATION_TURN.match, path.read_text().splitlines())
        if m
    ]


def test_every_labelled_turn_is_read_with_its_session_dialog_and_gender(demo_raw, parsed):
    by_id, ctx = parsed
    corpus = demo_raw / "IEMOCAP"
    expected = {}
    for path in sorted(corpus.glob("Session*/dialog/EmoEvaluation/Ses*.txt")):
        for _, name, label in _evaluation_turns(path):
            expected[name] = (path.stem, label)
    kept = {name for name, (_, label) in expected.items() if label not in {"fru", "xxx", "oth"}}
    assert set(by_id) == kept and len(kept) >= 45
    for name, u in by_id.items():
        dialog, label = expected[name]
        session = name[:5]
        assert u.source == corpus / f"Session{session[-1]}" / "sentences" / "wav" / dialog / f"{name}.wav"
        assert (u.dialogue_id, u.session, u.raw_label, u.language) == (dialog, session, label, "en")
        assert u.speaker_id == session + name.rsplit("_", 1)[1][0]
        assert u.gender == {"F": "female", "M": "male"}[u.speaker_id[-1]]
        assert u.emotion in EMOTIONS and u.split is None and u.media_path is None
    assert {u.session for u in by_id.values()} == {"Ses01", "Ses02", "Ses03", "Ses04", "Ses05"}
    assert len({u.speaker_id for u in by_id.values()}) == 10
    assert any("_impro" in u.dialogue_id for u in by_id.values()) and any(
        "_script" in u.dialogue_id for u in by_id.values()
    )
    # AppleDouble twins and the Categorical/ subfolder sit beside the evaluation files and are not dialogs.
    assert list(corpus.glob("Session1/dialog/EmoEvaluation/._*.txt"))
    assert list(corpus.glob("Session1/dialog/EmoEvaluation/Categorical/*.txt"))
    assert ctx.problems == [] and all("._" not in d["file"] for d in ctx.drops)


def test_speaker_is_the_utterance_suffix_not_the_dialog_letter(parsed):
    by_id, _ = parsed
    crossed = [u for u in by_id.values() if u.native_id[5] != u.native_id.rsplit("_", 1)[1][0]]
    assert crossed, "the demo must contain utterances like Ses01F_impro01_M000"
    for u in crossed:
        assert u.speaker_id == u.native_id[:5] + u.native_id.rsplit("_", 1)[1][0] != u.native_id[:6]
    m000 = next(u for name, u in by_id.items() if re.fullmatch(r"Ses01F_impro\d+_M000", name))
    assert (m000.speaker_id, m000.gender) == ("Ses01M", "male")


def test_label_table_and_policies(demo_raw, parsed, parse):
    by_id, ctx = parsed
    raw_counts = Counter(
        label
        for p in (demo_raw / "IEMOCAP").glob("Session*/dialog/EmoEvaluation/Ses*.txt")
        for *_, label in _evaluation_turns(p)
    )
    assert {"exc", "fru", "xxx", "oth"} <= set(raw_counts)
    assert {u.emotion for u in by_id.values() if u.raw_label == "exc"} == {"joy"}
    assert Counter(u.raw_label for u in by_id.values()) == {
        k: v for k, v in raw_counts.items() if k not in {"fru", "xxx", "oth"}
    }
    reasons = Counter(d["reason"].split(":")[0] for d in ctx.drops)
    assert reasons == {
        "raw label 'fru' is outside the label space": raw_counts["fru"],
        "raw label 'xxx' is always dropped": raw_counts["xxx"],
        "raw label 'oth' is always dropped": raw_counts["oth"],
    }
    assert all(d["file"].endswith(".wav") for d in ctx.drops)
    assert all("--iemocap_frustrated" in d["reason"] for d in ctx.drops if "'fru'" in d["reason"])
    mapped, mapped_ctx = parse(demo_raw / "IEMOCAP", policy=LabelPolicy(iemocap_frustrated="map_to_anger"))
    assert {u.emotion for u in mapped if u.raw_label == "fru"} == {"anger"}
    assert sum(u.raw_label == "fru" for u in mapped) == raw_counts["fru"]
    assert len(mapped_ctx.drops) == raw_counts["xxx"] + raw_counts["oth"]  # never kept, whatever the policy


def test_turn_order_follows_start_times_not_file_order(demo_raw, parsed):
    by_id, _ = parsed
    shuffled = 0
    for path in sorted((demo_raw / "IEMOCAP").glob("Session*/dialog/EmoEvaluation/Ses*.txt")):
        turns = _evaluation_turns(path)
        by_time = sorted(turns)
        shuffled += turns != by_time
        expected_index = {name: index for index, (_, name, _) in enumerate(by_time)}
        for name, index in expected_index.items():
            if name in by_id:
                assert by_id[name].utterance_index == index
    assert shuffled >= 5  # the trap is present: evaluation files are not in time order


def test_transcripts_are_read_from_crlf_files_without_their_line_endings(demo_raw, parsed):
    by_id, _ = parsed
    corpus = demo_raw / "IEMOCAP"
    checked = set()
    for path in corpus.glob("Session*/dialog/transcriptions/*.txt"):
        data = path.read_bytes()
        assert data.count(b"\r\n") == data.count(b"\n") > 0
        for line in data.decode().splitlines():
            name, text = line.split(" ", 1)[0], line.split("]: ", 1)[1]
            if name in by_id:
                assert by_id[name].text == text
                checked.add(name)
    assert checked == set(by_id)
    assert not any("XX" in name for name in by_id)  # transcript-only turns (MXX0) have no wav and are not utterances
    for u in by_id.values():
        assert u.text and "\r" not in u.text and u.notes == []
        assert not set(EMOTIONS) & set(re.findall(r"[a-z]+", u.text.lower()))


def test_wavs_are_16k_mono(parsed):
    by_id, _ = parsed
    info = sf.info(next(iter(by_id.values())).source)
    assert (info.samplerate, info.channels) == (16000, 1)


def test_broken_inputs_are_problems_naming_the_file_and_do_not_stop_the_rest(raw_copy, parse):
    corpus = raw_copy / "IEMOCAP"
    good = len(parse(corpus)[0])
    session1 = corpus / "Session1"
    impro, script = sorted(p.stem for p in (session1 / "dialog" / "EmoEvaluation").glob("Ses*.txt"))
    evaluation = session1 / "dialog" / "EmoEvaluation" / f"{impro}.txt"
    text = re.sub(r"^(\[[^\]]+\]\t\S+\t)\w+", r"\1bor", evaluation.read_text(), count=1, flags=re.M)
    evaluation.write_text(text + "[1.0 - oops]\tbroken line\n")
    stray = session1 / "sentences" / "wav" / impro / f"{impro}_F099.wav"
    shutil.copy(next((session1 / "sentences" / "wav" / impro).glob("*.wav")), stray)
    (session1 / "dialog" / "transcriptions" / f"{script}.txt").unlink()
    shutil.rmtree(corpus / "Session5" / "dialog" / "EmoEvaluation")
    with pytest.raises(CorpusError, match=rf"{impro}\.txt:\d+: malformed line"):
        parse(corpus)
    utterances, ctx = parse(corpus, continue_on_error=True)
    found = [(Path(p["file"]).name, p["reason"]) for p in ctx.problems]

    def reported(file_prefix, words):
        return sum(name.startswith(file_prefix) and words in reason for name, reason in found)

    assert reported(f"{impro}.txt:", "unknown raw label 'bor'") == 1
    assert reported(f"{impro}.txt:{len(text.splitlines()) + 1}", "malformed line '[1.0 - oops]\\tbroken line'") == 1
    assert reported(stray.name, f"no label line for it in {evaluation}") == 1
    assert reported(f"{script}.txt", "missing: dialog") == 1
    session5_dialogs = list((corpus / "Session5" / "sentences" / "wav").iterdir())
    assert reported("Ses05", "missing: the 6 wavs of dialog") == len(session5_dialogs) == 2
    assert len(found) == 6
    assert not any(u.native_id.startswith((script, "Ses05")) for u in utterances)
    assert 0 < len(utterances) < good


def test_missing_session_is_a_problem(raw_copy, parse):
    corpus = raw_copy / "IEMOCAP"
    shutil.rmtree(corpus / "Session3")
    with pytest.raises(CorpusError, match=r"Session3: missing or without sentences/wav"):
        parse(corpus)
    utterances, ctx = parse(corpus, continue_on_error=True)
    assert len(ctx.problems) == 1 and {u.session for u in utterances} == {"Ses01", "Ses02", "Ses04", "Ses05"}


def test_locate_and_download_explain_the_layout(demo_raw, tmp_path):
    with pytest.raises(ManualDownloadRequired, match=r"sail\.usc\.edu.*Session1") as excinfo:
        iemocap.download(tmp_path)
    assert "<raw_dir>/IEMOCAP/" in str(excinfo.value)
    shutil.copytree(demo_raw / "IEMOCAP" / "Session1", tmp_path / "IEMOCAP" / "IEMOCAP_full_release" / "Session1")
    assert iemocap.locate(tmp_path) == tmp_path / "IEMOCAP" / "IEMOCAP_full_release"  # the release's own folder
    (tmp_path / "IEMOCAP" / "IEMOCAP_full_release").rename(tmp_path / "IEMOCAP" / "release")
    with pytest.raises(CorpusLayoutError, match=r"it is one folder deeper, at .*release: move the contents of that"):
        iemocap.locate(tmp_path)
    assert iemocap.download(demo_raw) == demo_raw / "IEMOCAP"


def test_demo_is_deterministic(demo_raw, tmp_path):
    def contents(folder):
        return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    iemocap_demo.write(tmp_path / "same", seed=0)
    iemocap_demo.write(tmp_path / "other", seed=1)
    assert contents(tmp_path / "same") == contents(demo_raw / "IEMOCAP")
    assert contents(tmp_path / "other") != contents(demo_raw / "IEMOCAP")
