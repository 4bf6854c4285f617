"""predict.py and `mer.Predictor` on held-out files of the builder's demo, with models trained in the session."""

import csv
import json

import numpy as np
import pytest

from mer import Predictor
from mer.commands import evaluate_main
from mer.prediction import Prediction, PredictionError
from mer.prediction.cli import predict_main
from mer_builder.audio import load_audio, write_wav
from mer_builder.labels import EMOTIONS

P_COLUMNS = [f"p_{e}" for e in EMOTIONS]


def write_transcripts(path, demo, records, columns=("path", "text", "speaker", "dialogue_id", "utterance_index")):
    """A transcripts CSV for `records` (audio under the processed dir), with the manifest's fields."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for r in records:
            values = {"path": demo.audio(r), "text": r["text"], "speaker": r["speaker_id"]}
            values |= {k: r.get(k, "") for k in ("dialogue_id", "utterance_index")}
            writer.writerow([values[c] for c in columns])
    return path


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def probabilities(row):
    return np.array([float(row[c]) for c in P_COLUMNS])


@pytest.mark.parametrize("group", ["testA", "testB"])
def test_predictions_match_evaluate_on_the_same_utterances(demo, tmp_path, group, capsys):
    """Same checkpoint, same utterances: predict.py rebuilds the training features (MFCC, hashed text with the
    speaker's name and two earlier turns of the MELD dialogue) and gives evaluate.py's probabilities."""
    ckpt = demo.checkpoints["at_dropout"]
    eval_dir = tmp_path / "eval"
    assert evaluate_main(["--ckpt", str(ckpt), "--set", f"data.eval_dir={demo.features / group}",
                          "--output_dir", str(eval_dir), "--quiet"]) == 0  # fmt: skip
    evaluated = {row["id"]: row for row in read_csv(eval_dir / "predictions.csv")}
    records = demo.group(group)
    transcripts = write_transcripts(tmp_path / "transcripts.csv", demo, records)
    out = tmp_path / "preds.csv"
    argv = ["--ckpt", str(ckpt), "--transcripts", str(transcripts), "--output", str(out), "--quiet"]
    assert predict_main(argv) == 0  # no INPUT: the files the CSV names
    predicted = {row["path"]: row for row in read_csv(out)}
    assert len(predicted) == len(records) == len(evaluated)
    for r in records:
        ours, theirs = predicted[str(demo.audio(r))], evaluated[r["id"]]
        assert ours["status"] == "ok" and ours["modalities"] == "audio+text"
        np.testing.assert_allclose(probabilities(ours), probabilities(theirs), atol=2e-5, err_msg=r["id"])
        assert ours["label"] == theirs["pred"]
    accuracy = np.mean([predicted[str(demo.audio(r))]["label"] == r["emotion"] for r in records])
    assert accuracy > 0.6  # the demo's transcripts and tones carry the emotion
    assert "model: flexible_at over audio+text" in capsys.readouterr().err


def test_api_audio_only_and_audio_plus_text(demo, tmp_path):
    records = demo.group("testA")
    paths = [demo.audio(r) for r in records]
    predictor = Predictor.from_checkpoint(demo.checkpoints["at_dropout"], device="cpu")
    assert predictor.can_skip_text and predictor.labels == list(EMOTIONS)

    audio_only = predictor.predict(paths, transcribe="never")
    with_text = predictor.predict(
        paths, texts=[r["text"] for r in records], speakers=[r["speaker_id"] for r in records]
    )
    for result in (*audio_only, *with_text):
        assert isinstance(result, Prediction) and result.ok, result.error
        assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert result.label == max(result.probabilities, key=result.probabilities.get)
    assert {r.modalities for r in audio_only} == {("audio",)}
    assert {r.modalities for r in with_text} == {("audio", "text")}
    for result, record in zip(audio_only, records, strict=True):
        assert result.path == str(demo.audio(record))
        assert result.duration_s == pytest.approx(record["duration_s"], abs=1e-3)
    with pytest.raises(PredictionError, match=f"got {len(paths)} inputs but 2 texts"):
        predictor.predict(paths, texts=["one", "two"])
    write_wav(tmp_path / "muted.wav", np.zeros(8000, np.float32))
    folder, muted = predictor.predict([tmp_path, tmp_path / "muted.wav"])
    assert folder.error.startswith("is a folder: give media files") and folder.probabilities == {}
    assert muted.ok and muted.notes[0].startswith("the audio is silent")
    truth = [r["emotion"] for r in records]
    accuracy = [
        np.mean([p.label == t for p, t in zip(results, truth, strict=True)]) for results in (audio_only, with_text)
    ]
    assert min(accuracy) > 3 / 7  # chance is 1/7; RAVDESS's two sentences say nothing, the tones do


def test_a_model_trained_without_modality_dropout_needs_a_transcript(demo, tmp_path, capsys):
    records = demo.group("testA")[:3]
    paths = [demo.audio(r) for r in records]
    ckpt = demo.checkpoints["at_plain"]
    predictor = Predictor.from_checkpoint(ckpt, device="cpu")
    assert not predictor.can_skip_text
    with pytest.raises(PredictionError, match="trained without modality dropout, so it cannot predict from audio"):
        predictor.predict(paths, transcribe="never")

    assert predict_main(["--ckpt", str(ckpt), str(paths[0]), "--transcribe", "never", "--quiet"]) == 2
    assert "needs text" in capsys.readouterr().err

    # a CSV that covers only two of the three: the third fails on its own, the others are predicted
    transcripts = write_transcripts(tmp_path / "t.csv", demo, records[:2], columns=("path", "text"))
    out = tmp_path / "preds.jsonl"
    argv = ["--ckpt", str(ckpt), *map(str, paths), "--transcripts", str(transcripts), "--output", str(out), "--quiet"]
    assert predict_main([*argv, "--transcribe", "never"]) == 1
    rows = {json.loads(line)["path"]: json.loads(line) for line in out.read_text().splitlines()}
    assert [rows[str(p)]["status"] for p in paths] == ["ok", "ok", "failed"]
    assert "no transcript for this file" in rows[str(paths[2])]["error"]
    assert f"error: {paths[2]}: no transcript for this file" in capsys.readouterr().err


def test_an_audio_model_ignores_a_transcript_and_says_so(demo):
    record = demo.group("testA")[0]
    predictor = Predictor.from_checkpoint(demo.checkpoints["audio_only"], device="cpu")
    plain, given = predictor.predict([demo.audio(record)]), predictor.predict([demo.audio(record)], texts=["hi"])
    assert plain[0].modalities == given[0].modalities == ("audio",)
    assert plain[0].probabilities == given[0].probabilities
    assert given[0].notes == ("transcript not used: the model takes no text",)


def test_video_containers_contribute_their_audio_track(demo, capsys):
    """The MELD clip (H.264 + stereo 48 kHz AAC) and a RAVDESS audio-video mp4 are decoded by PyAV; the MELD
    clip predicts as its normalised wav does (the builder made that wav from this very clip)."""
    meld = next(r for r in demo.group("testB") if r.get("media_path"))
    ravdess_mp4 = sorted(demo.raw.glob("RAVDESS/Actor_*/01-*.mp4"))[0]
    predictor = Predictor.from_checkpoint(demo.checkpoints["at_dropout"], device="cpu")
    text, speaker = [meld["text"], None, meld["text"]], [meld["speaker_id"], None, meld["speaker_id"]]
    clip, ravdess, wav = predictor.predict(
        [meld["media_path"], ravdess_mp4, demo.audio(meld)], text, speaker, transcribe="never"
    )
    assert clip.ok and ravdess.ok, (clip.error, ravdess.error)
    assert clip.modalities == ("audio", "text") and ravdess.modalities == ("audio",)
    assert clip.duration_s == pytest.approx(wav.duration_s, abs=0.03)
    assert clip.label == wav.label
    np.testing.assert_allclose(list(clip.probabilities.values()), list(wav.probabilities.values()), atol=0.02)
    assert ravdess.duration_s == pytest.approx(load_audio(ravdess_mp4)[0].size / 16000, abs=1e-3)

    assert predict_main(["--ckpt", str(demo.checkpoints["at_dropout"]), str(ravdess_mp4), "--transcribe", "never"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["file", "label", *EMOTIONS, "modalities", "duration"]
    assert table[1].split()[-3:] == ["audio", f"{ravdess.duration_s:.2f}", "s"]
    assert table[1].split()[1] == ravdess.label


def test_output_files_csv_and_jsonl_are_never_overwritten_unasked(demo, tmp_path, capsys):
    records = demo.group("testB")[:4]
    folder = tmp_path / "clips"
    for r in records:
        (folder / "sub").mkdir(parents=True, exist_ok=True)
        (folder / "sub" / f"{r['id'].split('/')[1]}.wav").write_bytes(demo.audio(r).read_bytes())
    (folder / "._hidden.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")  # macOS junk: skipped
    ckpt = str(demo.checkpoints["at_dropout"])
    csv_out, jsonl_out = tmp_path / "preds.csv", tmp_path / "preds.jsonl"
    never = ["--transcribe", "never", "--quiet"]
    assert predict_main(["--ckpt", ckpt, str(folder), "--output", str(csv_out), *never]) == 0
    assert predict_main(["--ckpt", ckpt, str(folder), "--output", str(jsonl_out), *never]) == 0
    assert f"wrote {csv_out} (4 predicted, 0 failed)" in capsys.readouterr().out

    rows = read_csv(csv_out)
    header = ["path", "status", "label", *P_COLUMNS, "modalities", "duration_s", "windows", "transcript",
              "transcript_source", "notes", "error"]  # fmt: skip
    assert list(rows[0]) == header
    objects = [json.loads(line) for line in jsonl_out.read_text().splitlines()]
    assert [o["path"] for o in objects] == [r["path"] for r in rows] == sorted(r["path"] for r in rows)
    for row, obj in zip(rows, objects, strict=True):
        assert set(obj) == {"path", "status", "label", "probabilities", "modalities", "duration_s", "timeline",
                            "transcript", "transcript_source", "notes", "error", "explanation"}  # fmt: skip
        assert obj["transcript"] is obj["transcript_source"] is obj["explanation"] is None and row["transcript"] == ""
        assert row["status"] == obj["status"] == "ok" and obj["error"] is None and obj["modalities"] == ["audio"]
        assert list(obj["probabilities"]) == list(EMOTIONS)
        assert sum(obj["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        np.testing.assert_allclose(probabilities(row), list(obj["probabilities"].values()), atol=1e-6)
        assert row["label"] == obj["label"] and float(row["duration_s"]) == pytest.approx(obj["duration_s"])

    before = csv_out.read_bytes()
    assert predict_main(["--ckpt", ckpt, str(folder), "--output", str(csv_out), *never]) == 2
    assert "already exist" in capsys.readouterr().err and csv_out.read_bytes() == before
    assert (
        predict_main(["--ckpt", ckpt, str(demo.audio(records[0])), "--output", str(csv_out), "--overwrite", *never])
        == 0
    )
    assert len(read_csv(csv_out)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips", "preds.csv", "preds.jsonl"]  # no temp files left


def test_long_recording_timeline_csv_and_png(demo, tmp_path, capsys):
    """Five 1-second clips joined into one file: with 1 s windows every 1 s, each window is one clip and gets
    exactly the probabilities of that clip predicted alone; overlapping windows cover the whole recording."""
    records = demo.group("testA")[:5]
    clips = [load_audio(demo.audio(r))[0][:16000] for r in records]
    assert all(len(c) == 16000 for c in clips)
    parts = []
    for k, clip in enumerate(clips):
        write_wav(tmp_path / f"part{k}.wav", clip)
        parts.append(tmp_path / f"part{k}.wav")
    long_path = tmp_path / "long.wav"
    write_wav(long_path, np.concatenate(clips))

    predictor = Predictor.from_checkpoint(demo.checkpoints["at_dropout"], device="cpu", batch_size=2)
    (whole,) = predictor.predict([long_path], window_s=1.0, transcribe="never")
    alone = predictor.predict(parts, transcribe="never")
    assert [(w.start_s, w.end_s) for w in whole.timeline] == [(k, k + 1) for k in range(5)]
    for window, part in zip(whole.timeline, alone, strict=True):
        assert window.label == part.label
        np.testing.assert_allclose(list(window.probabilities.values()), list(part.probabilities.values()), atol=1e-5)
    mean = np.mean([list(w.probabilities.values()) for w in whole.timeline], axis=0)
    np.testing.assert_allclose(list(whole.probabilities.values()), mean, rtol=1e-6)

    out = tmp_path / "out" / "preds.csv"
    argv = ["--ckpt", str(demo.checkpoints["at_dropout"]), str(long_path), str(parts[0]), "--window_s", "2",
            "--hop_s", "1.5", "--output", str(out), "--plot", "--transcribe", "never", "--quiet"]  # fmt: skip
    assert predict_main(argv) == 0
    timeline = read_csv(out.parent / "preds.timeline.csv")
    assert list(timeline[0]) == ["path", "start_s", "end_s", "label", *P_COLUMNS, "transcript"]
    spans = [(float(t["start_s"]), float(t["end_s"])) for t in timeline if t["path"] == str(long_path)]
    assert spans == [(0, 2), (1.5, 3.5), (3, 5)]  # the last window ends at the end of the recording
    assert [(float(t["start_s"]), float(t["end_s"])) for t in timeline if t["path"] == str(parts[0])] == [(0, 1)]
    for row in timeline:
        assert probabilities(row).sum() == pytest.approx(1, abs=1e-5)
    assert read_csv(out)[0]["windows"] == "3"

    import matplotlib.image

    for name in ("long.png", "part0.png"):
        image = matplotlib.image.imread(out.parent / "preds.timeline" / name)
        assert image.shape[0] > 200 and image.shape[1] > 500 and image[..., :3].std() > 0.05  # drawn, not blank

    argv = ["--ckpt", str(demo.checkpoints["at_dropout"]), str(long_path), "--window_s", "2", "--transcribe", "never"]
    assert predict_main(argv) == 0
    printed = capsys.readouterr().out
    assert "long.wav: 3 windows\nstart   end  label" in printed
    assert [line.split()[:2] for line in printed.splitlines()[-3:]] == [["0.00", "2.00"], ["2.00", "4.00"],
                                                                        ["3.00", "5.00"]]  # fmt: skip


def test_bad_inputs_fail_one_by_one_and_the_rest_is_predicted(demo, tmp_path, capsys):
    good = demo.audio(demo.group("testA")[0])
    (tmp_path / "garbage.wav").write_bytes(b"this is not audio" * 100)
    (tmp_path / "empty.mp3").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not media")
    (tmp_path / "no_media").mkdir()
    (tmp_path / "no_media" / "readme.md").write_text("nothing to hear")
    silent_video = tmp_path / "truncated.mp4"
    silent_video.write_bytes(next(demo.raw.glob("MELD/*/*.mp4")).read_bytes()[:200])
    inputs = [good, tmp_path / "garbage.wav", tmp_path / "empty.mp3", tmp_path / "notes.txt", tmp_path / "no_media",
              tmp_path / "missing.wav", silent_video]  # fmt: skip
    out = tmp_path / "preds.csv"
    argv = ["--ckpt", str(demo.checkpoints["at_dropout"]), *map(str, inputs), "--output", str(out), "--quiet"]
    assert predict_main([*argv, "--transcribe", "never"]) == 1
    rows = {row["path"]: row for row in read_csv(out)}
    assert rows[str(good)]["status"] == "ok" and rows[str(good)]["label"] in EMOTIONS
    expected = {
        "garbage.wav": "cannot decode audio",
        "empty.mp3": "file is empty (0 bytes)",
        "notes.txt": "not a media file",
        "no_media": "folder holds no media files",
        "missing.wav": "file not found",
        "truncated.mp4": "cannot decode audio",
    }
    err = capsys.readouterr()
    for name, reason in expected.items():
        row = rows[str(tmp_path / name)]
        assert row["status"] == "failed" and reason in row["error"] and not row["label"], (name, row)
        assert f"error: {tmp_path / name}: {reason}" in err.err
    assert f"wrote {out} (1 predicted, 6 failed)" in err.out


def test_usage_and_transcript_errors_are_reported_before_any_work(demo, tmp_path, capsys):
    ckpt = str(demo.checkpoints["at_dropout"])
    wavs = [str(demo.audio(r)) for r in demo.group("testA")[:2]]
    assert predict_main(["--ckpt", ckpt, *wavs, "--text", "one transcript for two files"]) == 2
    assert "--text gives one transcript" in capsys.readouterr().err
    assert predict_main(["--ckpt", ckpt, wavs[0], "--plot", "--output", str(tmp_path / "p.csv")]) == 2
    assert "--plot draws the --window_s timeline" in capsys.readouterr().err
    assert predict_main(["--ckpt", ckpt, wavs[0], "--output", str(tmp_path / "p.txt")]) == 2
    assert "--output must end in .csv or .jsonl" in capsys.readouterr().err

    cases = {
        "path,transcript\na.wav,hi\n": "lacks the columns ['text']",
        "path,text,emotion\na.wav,hi,joy\n": "has unknown columns ['emotion']",
        f"path,text\n{wavs[0]},hi\n{wavs[0]},again\n": ":3: ",
        "path,text,utterance_index\na.wav,hi,first\n": "utterance_index must be a whole number",
        "path,text\n,hi\n": "t.csv:2: the path is empty",
    }
    for content, message in cases.items():
        (tmp_path / "t.csv").write_text(content)
        assert predict_main(["--ckpt", ckpt, wavs[0], "--transcripts", str(tmp_path / "t.csv"), "--quiet"]) == 2
        assert message in capsys.readouterr().err
    assert predict_main(["--ckpt", str(tmp_path / "nope.pt"), wavs[0]]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]  # nothing written


def test_waveforms_in_memory_predict_like_their_files(demo):
    predictor = Predictor.from_checkpoint(demo.checkpoints["at_dropout"], device="cpu", quiet=True)
    record = demo.group("testA")[0]
    samples, rate = load_audio(demo.audio(record), target_sr=None)
    from_file, from_array = predictor.predict(
        [demo.audio(record), samples], texts=[record["text"]] * 2, sample_rate=rate
    )
    assert from_file.ok and from_array.ok and from_array.path == "<array 1>"
    assert from_array.label == from_file.label
    by_label = [from_array.probabilities[e] - from_file.probabilities[e] for e in EMOTIONS]
    assert np.allclose(by_label, 0.0, atol=1e-5)
    stereo = np.stack([samples, samples], axis=1)
    (twice,) = predictor.predict([stereo], texts=[record["text"]], sample_rate=rate)
    assert twice.label == from_file.label
    with pytest.raises(PredictionError, match="need sample_rate="):
        predictor.predict([samples], texts=["x"])
    (empty,) = predictor.predict([np.zeros(0, np.float32)], texts=["x"], sample_rate=rate)
    assert not empty.ok and "zero samples" in empty.error
