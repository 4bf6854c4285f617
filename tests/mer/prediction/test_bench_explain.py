"""bench/bench_explain.py runs end to end on the demo models (small), printing both parts and writing its files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_bench_explain_runs_small(demo, tmp_path):
    ckpt = str(demo.checkpoints["at_dropout"])
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_explain.py"), "--words_ckpt", ckpt, "--words_processed",
         str(demo.processed), "--max_k", "2", "--draws", "3", "--modality_ckpt", ckpt, "--modality_processed",
         str(demo.processed), "--limit", "6", "--threads", "1", "--out_dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| 2 | " in result.stdout and "area between the curves" in result.stdout and "by gate" in result.stdout
    report = json.loads((tmp_path / "explain_faithfulness.json").read_text())
    words, modalities = report["words"], report["modalities"]
    assert words["utterances"] == 6 and words["k"] == [1, 2] and len(words["top_drop"]) == 2
    assert words["top_drop"][0] >= words["random_drop"][0] - 1e-9  # the word ranked first is never worse than chance
    assert modalities["utterances"] == 6 and modalities["top_by_occlusion_drop"] >= modalities["random_drop"]
    assert (tmp_path / "deletion_curves.png").stat().st_size > 5000
