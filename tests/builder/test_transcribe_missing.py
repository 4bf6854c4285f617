"""`--transcribe_missing`: utterances a corpus gives no transcript for get Whisper's, marked as machine transcripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mer_builder import api
from mer_builder.cli import main
from mer_builder.pipeline import BuildOptions, prepare
from mer_builder.recipes.common import Utterance
from tests.conftest import words_missed

pytest.importorskip("faster_whisper", reason="faster-whisper (offline extras) is not installed")


class SpokenCorpus:
    """A corpus of one's own (the `Recipe` protocol): two English clips without transcripts, one with, one Mandarin."""

    CORPUS = "SPOKEN"

    def __init__(self, files: dict[str, tuple[Path, str, str]]):
        self.files = files

    def locate(self, raw_dir: Path) -> Path:
        return Path(raw_dir)

    def parse(self, corpus_dir, ctx):
        for name, (path, text, language) in self.files.items():
            yield Utterance(
                dataset=self.CORPUS, native_id=name, source=path, speaker_id=f"spk{len(name)}", raw_label="ang",
                emotion="anger", text=text, language=language, notes=[] if text else ["the corpus has no transcript"],
            )  # fmt: skip


def test_missing_transcripts_are_transcribed_and_marked(speak, tmp_path):
    spoken = speak("I am so happy to see you again.", "happy")
    files = {
        "a": (spoken, "", "en"),
        "b": (speak("Please leave me alone.", "alone"), "", "en"),
        "c": (spoken, "The corpus transcript stays.", "en"),
        "d": (spoken, "", "zh"),
    }
    out = tmp_path / "processed"
    (outcome,) = prepare([SpokenCorpus(files)], BuildOptions(raw_dir=tmp_path, out_dir=out, transcribe_missing=True))
    assert outcome.report["transcripts"] == {"transcribed": 2, "no_words": 0, "unsupported_language": 1}
    records = {r["id"]: r for r in map(json.loads, (out / "meta_manifest.jsonl").read_text().splitlines())}
    a, b, c, d = (records[f"SPOKEN/{k}"] for k in "abcd")
    assert words_missed(a["text"], "I am so happy to see you again.") <= 1 and a["transcript_source"] == "whisper"
    assert a["notes"] == ["the corpus has no transcript", "machine transcript by Whisper (packaged:whisper-tiny.en)"]
    assert words_missed(b["text"], "Please leave me alone.") <= 1 and b["transcript_source"] == "whisper"
    assert c["text"] == "The corpus transcript stays." and "transcript_source" not in c
    assert d["text"] == "" and "transcript_source" not in d  # tiny.en is English-only: left as the corpus had it
    assert json.loads((out / "build_report.json").read_text())["corpora"]["SPOKEN"]["transcripts"]["transcribed"] == 2


def test_the_flag_reaches_the_build_options(tmp_path, monkeypatch):
    seen: list[BuildOptions] = []
    monkeypatch.setattr(api, "prepare", lambda names, options: seen.append(options) or [])  # the flags, not a build
    argv = ["prepare", "--datasets", "ravdess", "--raw_dir", str(tmp_path), "--out_dir", str(tmp_path / "o")]
    main([*argv, "--transcribe_missing", "--whisper", "small"])
    main(argv)
    assert seen[0].transcribe_missing and seen[0].whisper == "small"
    assert not seen[1].transcribe_missing and seen[1].whisper is None
