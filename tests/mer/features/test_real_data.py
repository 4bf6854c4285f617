"""Real MELD transcripts and dialogue structure through the hashing path (../shared/data/real, skipped when absent).

The real samples hold MELD's CSVs but no clips, so the audio here is synthetic; real RAVDESS and
ESD audio go through the builder and the extractor in test_builder_output.py.
"""

import csv
import json

import numpy as np
import pytest

from mer.features.cli import extract_main
from mer.features.pipeline import FeaturePipeline
from mer.features.safe_pickle import safe_load
from tests.mer.features.conftest import Utt, write_processed_dir

pytestmark = pytest.mark.real_data


def test_real_meld_dialogues_give_context_blocks_in_turn_order(real_corpus, tmp_path):
    with (real_corpus("MELD") / "dev_sent_emo.csv").open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if int(r["Dialogue_ID"]) < 3]
    utts = [
        Utt(f"MELD/dev_dia{r['Dialogue_ID']}_utt{r['Utterance_ID']}", "val", r["Speaker"], r["Emotion"],
            r["Utterance"], 0.3, f"dev_dia{r['Dialogue_ID']}", int(r["Utterance_ID"]))  # MELD uses our 7 labels
        for r in rows
    ]  # fmt: skip
    processed = write_processed_dir(tmp_path / "processed", utts)
    out = tmp_path / "F"
    args = ["--processed_dir", str(processed), "--out_dir", str(out), "--quiet", "--num_workers", "1",
            "--text_dim", "512",
            "--meld_context_window", "3", "--include_speaker_in_text"]  # fmt: skip
    assert extract_main(args) == 0
    pipeline = FeaturePipeline.from_config(json.loads((out / "feature_info.json").read_text())["config"])
    by_turn = {(u.dialogue_id, u.utterance_index): u for u in utts}
    for u in utts:
        saved = safe_load(out / "val" / f"{u.id}.pkl")["text_features"]
        earlier = [by_turn[(u.dialogue_id, i)] for i in range(max(0, u.utterance_index - 3), u.utterance_index)]
        if not earlier:
            assert not saved[512:].any()
            continue
        joined = " ".join(f"{e.speaker}: {e.text}" for e in earlier)
        np.testing.assert_array_equal(saved[512:], pipeline.text_features([joined])[0, :512])
