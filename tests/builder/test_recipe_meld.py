"""MELD recipe: official splits, per-split clip lookup, dialogue context, UTF-8 text, missing clips, download."""

import csv
import http.server
import re
import shutil
import tarfile
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mer_builder.audio import load_audio
from mer_builder.labels import EMOTIONS, SENTIMENTS
from mer_builder.recipes import meld
from mer_builder.recipes.common import CorpusError, CorpusLayoutError

RECIPE = meld
LABEL_WORDS = set(EMOTIONS)
OFFICIAL_TO_SPLIT = {"train": "train", "dev": "val", "test": "test"}


def _csv_rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_demo_has_the_native_csv_format(demo_raw):
    corpus = demo_raw / "MELD"
    for split in meld.SPLITS:
        data = (corpus / split.csv).read_bytes()
        assert data.startswith(",".join(meld.CSV_HEADER).encode() + b"\r\n")
        assert data.count(b"\r\n") == data.count(b"\n")
        text = data.decode("utf-8")
        assert "’" in text or "…" in text or "—" in text


def test_every_row_becomes_an_utterance_with_its_official_split_and_dialogue_position(demo_raw, parsed):
    by_id, ctx = parsed
    corpus = demo_raw / "MELD"
    expected = {}
    for split in meld.SPLITS:
        for row in _csv_rows(corpus / split.csv):
            expected[f"{split.official}_dia{row['Dialogue_ID']}_utt{row['Utterance_ID']}"] = (split, row)
    assert set(by_id) == set(expected)
    for native_id, (split, row) in expected.items():
        u = by_id[native_id]
        assert u.id == f"MELD/{native_id}" and "/" not in native_id
        assert u.split == OFFICIAL_TO_SPLIT[split.official]
        assert u.dialogue_id == f"{split.official}_{row['Dialogue_ID']}"
        assert u.utterance_index == int(row["Utterance_ID"])
        assert u.speaker_id == row["Speaker"]
        assert u.raw_label == row["Emotion"] and u.emotion == row["Emotion"]
        assert u.sentiment == row["Sentiment"] and u.sentiment in SENTIMENTS
        assert u.text == row["Utterance"]
        assert (u.language, u.gender, u.intensity, u.session) == ("en", None, None, None)
    assert Counter(u.split for u in by_id.values()) == {
        "train": len(_csv_rows(corpus / "train_sent_emo.csv")),
        "val": len(_csv_rows(corpus / "dev_sent_emo.csv")),
        "test": len(_csv_rows(corpus / "test_sent_emo.csv")),
    }
    assert {u.emotion for u in by_id.values() if u.split == "val"} == set(EMOTIONS)
    assert ctx.problems == []


def test_same_clip_name_in_every_split_is_looked_up_in_its_own_folder(demo_raw, parsed):
    by_id, _ = parsed
    corpus = demo_raw / "MELD"
    sources = {split: by_id[f"{split}_dia0_utt0"].source for split in ("train", "dev", "test")}
    assert sources == {
        "train": corpus / "train_splits" / "dia0_utt0.mp4",
        "dev": corpus / "dev_splits_complete" / "dia0_utt0.mp4",
        "test": corpus / "output_repeated_splits_test" / "dia0_utt0.mp4",
    }
    decoded = {split: load_audio(path)[0] for split, path in sources.items()}
    assert len({a.tobytes() for a in decoded.values()}) == 3  # three different clips, not one read three times
    assert all(by_id[f"{split}_dia0_utt0"].media_path == path for split, path in sources.items())


def test_dialogues_keep_their_turn_order_including_an_id_gap(parsed):
    by_id, _ = parsed
    dialogue = sorted((u for u in by_id.values() if u.dialogue_id == "train_2"), key=lambda u: u.utterance_index)
    assert [u.utterance_index for u in dialogue][:3] == [0, 1, 3]  # Utterance_ID 2 is absent, as in real MELD
    assert len({u.speaker_id for u in dialogue}) >= 2
    assert all(len([u for u in by_id.values() if u.dialogue_id == f"train_{d}"]) >= 4 for d in range(6))


def test_non_ascii_punctuation_is_kept_and_no_label_word_is_in_the_text(parsed):
    by_id, _ = parsed
    texts = [u.text for u in by_id.values()]
    assert any("’" in t for t in texts) and any("…" in t for t in texts) and any("—" in t for t in texts)
    assert not any("â€" in t for t in texts)  # no mojibake from a wrong decode
    for text in texts:
        assert not LABEL_WORDS & set(re.findall(r"[a-z]+", text.lower())), text


def test_row_without_clip_is_kept_with_its_expected_source_and_clips_without_rows_are_reported(demo_raw, parsed):
    by_id, ctx = parsed
    corpus = demo_raw / "MELD"
    missing = by_id["dev_dia1_utt2"]
    assert missing.source == corpus / "dev_splits_complete" / "dia1_utt2.mp4"
    assert not missing.source.exists() and missing.media_path is None
    assert [u.native_id for u in by_id.values() if not u.source.exists()] == ["dev_dia1_utt2"]
    dropped = {Path(d["file"]).relative_to(corpus).as_posix(): d["reason"] for d in ctx.drops}
    assert set(dropped) == {
        "dev_splits_complete/dia0_utt9.mp4",
        "output_repeated_splits_test/final_videos_testdia0_utt0.mp4",
    }
    assert all("no row in" in reason for reason in dropped.values())


def test_demo_audio_carries_the_emotion(parsed):
    """Angry clips are louder than sad ones: the synthetic prosody survives AAC and the builder's decoder."""
    by_id, _ = parsed

    def mean_rms(emotion):
        clips = [u.source for u in by_id.values() if u.emotion == emotion and u.source.exists()][:3]
        return np.mean([np.sqrt(np.mean(load_audio(path)[0] ** 2)) for path in clips])

    assert mean_rms("anger") > 1.5 * mean_rms("sadness")


def _copy_csvs(raw, tmp_path):
    corpus = tmp_path / "MELD"
    corpus.mkdir()
    for split in meld.SPLITS:
        shutil.copy(raw / "MELD" / split.csv, corpus / split.csv)
    return corpus


def _append_row(csv_path, cells):
    with open(csv_path, "a", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerow(cells)


def test_unknown_label_and_duplicate_rows_are_problems_naming_the_line(demo_raw, tmp_path, parse):
    corpus = _copy_csvs(demo_raw, tmp_path)
    dev = corpus / "dev_sent_emo.csv"
    good = len(_csv_rows(dev))
    _append_row(dev, [999, "Hm.", "Avery", "boredom", "neutral", 0, 77, 1, 1, "00:00:01,000", "00:00:02,000"])
    _append_row(dev, [1000, "Again.", "Avery", "joy", "positive", 0, 0, 1, 1, "00:00:01,000", "00:00:02,000"])
    with pytest.raises(CorpusError, match=r"dev_sent_emo\.csv:\d+: unknown raw label 'boredom'"):
        parse(corpus)
    utterances, ctx = parse(corpus, continue_on_error=True)
    assert [p["reason"] for p in ctx.problems] == [
        f"unknown raw label 'boredom'; expected one of {sorted(EMOTIONS)}",
        "dia0_utt0 already on line 2",
    ]
    assert sum(u.split == "val" for u in utterances) == good


def test_an_unknown_sentiment_is_a_problem_naming_the_line_and_the_row_keeps_its_emotion(demo_raw, tmp_path, parse):
    corpus = _copy_csvs(demo_raw, tmp_path)
    _append_row(
        corpus / "dev_sent_emo.csv", [999, "Hm.", "Avery", "joy", "mixed", 0, 77, 1, 1, "00:00:01,000", "00:00:02,000"]
    )
    with pytest.raises(
        CorpusError,
        match=r"dev_sent_emo\.csv:\d+: Sentiment 'mixed': expected one of \['negative', 'neutral', 'positive'\]",
    ):
        parse(corpus)
    utterances, ctx = parse(corpus, continue_on_error=True)
    assert len(ctx.problems) == 1
    kept = next(u for u in utterances if u.native_id == "dev_dia0_utt77")
    assert (kept.emotion, kept.sentiment) == ("joy", None)


def test_wrong_header_and_non_utf8_csv_are_problems_naming_the_file(demo_raw, tmp_path, parse):
    corpus = _copy_csvs(demo_raw, tmp_path)
    (corpus / "test_sent_emo.csv").write_text("Utterance,Emotion\nHi,joy\n", encoding="utf-8")
    (corpus / "dev_sent_emo.csv").write_bytes(",".join(meld.CSV_HEADER).encode() + b"\r\n1,Caf\xe9,A,joy\r\n")
    utterances, ctx = parse(corpus, continue_on_error=True)
    reasons = {Path(p["file"]).name: p["reason"] for p in ctx.problems}
    assert reasons["test_sent_emo.csv"].startswith("header ['Utterance', 'Emotion'] is not MELD's")
    header = len(",".join(meld.CSV_HEADER)) + 2
    assert reasons["dev_sent_emo.csv:2"] == (
        f"not valid UTF-8 (invalid continuation byte 0xe9 at byte {header + 5} of the file); MELD's CSVs are UTF-8"
    )
    assert {u.split for u in utterances} == {"train"}


def test_locate_explains_what_is_wrong(demo_raw, tmp_path):
    missing = r"MELD: corpus folder is missing; expected it to hold train_sent_emo\.csv"
    with pytest.raises(CorpusLayoutError, match=missing):
        meld.locate(tmp_path)
    nested = tmp_path / "MELD" / "download"
    nested.mkdir(parents=True)
    for split in meld.SPLITS:
        shutil.copy(demo_raw / "MELD" / split.csv, nested / split.csv)
    nested_hint = r"it is one folder deeper, at .*download: move the contents of that folder up"
    with pytest.raises(CorpusLayoutError, match=nested_hint):
        meld.locate(tmp_path)
    nested.rename(tmp_path / "MELD" / "MELD.Raw")  # the folder the official tarball unpacks to is used as it is
    assert meld.locate(tmp_path) == tmp_path / "MELD" / "MELD.Raw"
    with pytest.raises(CorpusLayoutError, match="is the corpus folder itself: pass its parent as --raw_dir"):
        meld.locate(demo_raw / "MELD")
    assert meld.locate(demo_raw) == demo_raw / "MELD"


class _Server:
    """Serves one folder on 127.0.0.1 and counts the requests it answers."""

    def __init__(self, folder):
        self.requests = 0
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):
                server.requests += 1
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _official_archive(raw, folder):
    """A MELD.Raw.tar.gz shaped like the official one: MELD.Raw/ holding the CSVs and three inner tarballs."""
    stage = folder / "stage" / "MELD.Raw"
    stage.mkdir(parents=True)
    for split in meld.SPLITS:
        with tarfile.open(stage / split.archive, "w:gz") as inner:
            inner.add(raw / "MELD" / split.clips, arcname=split.clips)
        shutil.copy(raw / "MELD" / split.csv, stage / split.csv)
    archive = folder / "MELD.Raw.tar.gz"
    with tarfile.open(archive, "w:gz") as outer:
        outer.add(stage, arcname="MELD.Raw")
    return archive


def test_download_unpacks_the_official_archive_and_its_inner_archives(demo_raw, tmp_path, monkeypatch, parse):
    served = tmp_path / "served"
    served.mkdir()
    _official_archive(demo_raw, served)
    server = _Server(served)
    monkeypatch.setattr(meld, "URL", f"{server.url}/MELD.Raw.tar.gz")
    try:
        target = tmp_path / "raw"
        assert meld.download(target) == target / "MELD"
        assert server.requests == 1
        for split in meld.SPLITS:
            assert sorted(p.name for p in (target / "MELD" / split.clips).iterdir()) == sorted(
                p.name for p in (demo_raw / "MELD" / split.clips).iterdir()
            )
            assert (target / "MELD" / split.csv).read_bytes() == (demo_raw / "MELD" / split.csv).read_bytes()
        assert meld.download(target) == target / "MELD"
        assert server.requests == 1  # complete: nothing fetched again
    finally:
        server.close()
    fetched, _ = parse(meld.locate(target))
    demo, _ = parse(demo_raw / "MELD")
    relative = {u.native_id: (u.source.relative_to(target), u.source.exists()) for u in fetched}
    assert relative == {u.native_id: (u.source.relative_to(demo_raw), u.source.exists()) for u in demo}


def test_the_official_tarball_unpacked_as_it_comes_is_used_and_its_inner_archives_unpacked(demo_raw, tmp_path, parse):
    raw = tmp_path / "raw"
    with tarfile.open(_official_archive(demo_raw, tmp_path)) as outer:
        outer.extractall(raw, filter="data")  # MELD.Raw/ with the CSVs beside train.tar.gz, dev.tar.gz, test.tar.gz
    corpus = meld.locate(raw)
    assert corpus == raw / "MELD.Raw" and not (corpus / "train_splits").exists()
    fetched, ctx = parse(corpus)
    demo, _ = parse(demo_raw / "MELD")
    assert not ctx.problems and (corpus / "train_splits").is_dir()
    relative = {u.native_id: (u.source.relative_to(corpus), u.source.exists()) for u in fetched}
    assert relative == {u.native_id: (u.source.relative_to(demo_raw / "MELD"), u.source.exists()) for u in demo}
    again, _ = parse(corpus)  # unpacked once: the second parse reads the placed clips
    assert [u.native_id for u in again] == [u.native_id for u in fetched]


@pytest.mark.real_data
def test_real_csvs_without_clips(real_corpus, parse):
    corpus = real_corpus("MELD")
    utterances, ctx = parse(corpus)
    assert Counter(u.split for u in utterances) == {"train": 9989, "val": 1109, "test": 2610}
    assert ctx.problems == [] and ctx.drops == []
    assert len({u.native_id for u in utterances}) == len(utterances)
    # No clips ship with the sample: every utterance is kept, and its missing source is plain to see.
    assert all(not u.source.exists() and u.media_path is None for u in utterances)
    assert all(u.source.parent.name in {s.clips for s in meld.SPLITS} for u in utterances)
    by_id = {u.native_id: u for u in utterances}
    first = by_id["train_dia0_utt0"]
    assert first.text == "also I was the point person on my company’s transition from the KL-5 to GR-6 system."
    assert (first.speaker_id, first.emotion, first.dialogue_id, first.utterance_index) == (
        "Chandler",
        "neutral",
        "train_0",
        0,
    )
    assert first.expected_duration_s == 5.672  # 00:16:16,059 -> 00:16:21,731: sizes replace_with_silence
    spans = [u.expected_duration_s for u in utterances]
    assert sum(s is None for s in spans) < 0.01 * len(spans) and all(s is None or s > 0 for s in spans)
    assert by_id["train_dia0_utt4"].emotion == "surprise"
    sentiments = {
        split: Counter(u.sentiment for u in utterances if u.split == split) for split in ("train", "val", "test")
    }
    assert sentiments == {  # MELD's Sentiment column, counted in the CSVs
        "train": {"neutral": 4710, "negative": 2945, "positive": 2334},
        "val": {"neutral": 470, "negative": 406, "positive": 233},
        "test": {"neutral": 1256, "negative": 833, "positive": 521},
    }
    column = [row["Utterance"] for s in meld.SPLITS for row in _csv_rows(corpus / s.csv)]
    for mark in "’…—":
        assert sum(u.text.count(mark) for u in utterances) == sum(t.count(mark) for t in column) > 0
    assert "dev_dia110_utt7" in by_id  # the row whose clip the official release lacks
    assert {u.dialogue_id.split("_")[0] for u in utterances} == {"train", "dev", "test"}
