"""What the web demo shows for one file (`mer.prediction.web.analyse`), without a browser: errors, timeline, card."""

from __future__ import annotations

import numpy as np

from mer.prediction.web import DemoModels, analyse
from mer_builder.audio import load_audio, write_wav


def test_files_the_demo_cannot_use_get_the_clis_reasons(demo, tmp_path):
    models = DemoModels([demo.checkpoints["at_dropout"]])
    (name,) = models.names
    assert name == "at_dropout/seed1 (best)"
    clip = tmp_path / "clip.wav"
    clip.write_bytes(demo.audio(demo.group("testA")[0]).read_bytes())
    (tmp_path / "notes.txt").write_text("not media")
    (tmp_path / "empty.wav").write_bytes(b"")
    cases = {
        None: "Upload or record a recording first.",
        str(tmp_path / "notes.txt"): "**error:** notes.txt: not a media file: expected one of",
        str(tmp_path / "empty.wav"): "**error:** empty.wav: file is empty (0 bytes)",
    }
    for media, status in cases.items():
        assert analyse(models, name, media, None, 0, True, tmp_path).status.startswith(status)
    too_big = analyse(models, name, str(clip), None, 0, True, tmp_path, max_file_mb=0.001)
    assert too_big.status.startswith("**error:** clip.wav: the file is 0 MB; this demo takes files up to 0.001 MB")
    assert too_big.probabilities is None and too_big.card is None


def test_a_long_recording_gets_a_timeline_and_the_card(demo, tmp_path):
    clips = [load_audio(demo.audio(r))[0] for r in demo.group("testA")[:8]]
    long_path = tmp_path / "long.wav"
    write_wav(long_path, np.concatenate(clips * 2))
    assert sum(len(c) for c in clips) * 2 / 16000 > 10
    models = DemoModels([demo.checkpoints["audio_only"]])
    shown = analyse(models, models.names[0], str(long_path), None, 0, True, tmp_path)
    assert shown.status.startswith("**") and "timeline:" in shown.status and "windows of 4 s" in shown.status
    assert shown.timeline.endswith("timeline.png") and shown.card.endswith("card.png")
    assert abs(sum(shown.probabilities.values()) - 1) < 1e-5
    assert "explains the whole recording as one input" in shown.explanation  # the label is the windows' mean


def test_mer_demo_with_a_checkpoint_is_the_web_demo_and_a_bad_one_stops_it(tmp_path, capsys):
    from mer.cli import main

    broken = tmp_path / "best.pt"
    broken.write_bytes(b"not a checkpoint")
    assert main(["demo", "--ckpt", str(broken), "--port", "0"]) == 2  # the web demo's flags, not the pipeline's
    assert f"error: {broken}" in capsys.readouterr().err
