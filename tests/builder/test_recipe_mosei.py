"""CMU-MOSEI recipe: official label intervals as segments, emotion intensities and sentiment kept, the single-label
policy, the standard folds, transcripts by overlap, and the segments cut out of the full-video audio."""

import json
from collections import Counter

import numpy as np
import pytest

from mer_builder.cli import main
from mer_builder.labels import sentiment_from_score
from mer_builder.manifest import MANIFEST_NAME, read_manifest
from mer_builder.recipes import get_recipe, mosei
from mer_builder.recipes.common import ManualDownloadRequired
from mer_builder.validate import validate

RECIPE = mosei


def test_module_follows_the_recipe_contract():
    assert get_recipe("mosei") is mosei and (mosei.CORPUS, mosei.FOLDER) == ("CMU-MOSEI", "CMU-MOSEI")


def test_segments_scores_policy_and_folds(demo_raw, parse):
    utterances, ctx = parse(mosei.locate(demo_raw))
    assert not ctx.problems and len(utterances) == 6 * 4 - 1
    reasons = Counter(d["reason"] for d in ctx.drops)
    assert reasons == {
        "tie between anger and surprise at intensity 1.33333: no single label": 1,
        "video in no standard fold (cmu_mosei_std_folds.py): not part of the official splits": 1,
    }
    assert Counter(u.split for u in utterances) == {"train": 15, "val": 4, "test": 4}
    by_id = {u.native_id: u for u in utterances}
    neutral = by_id["-3g5yACwYnA_000"]
    assert (neutral.raw_label, neutral.emotion) == ("none", "neutral") and not any(neutral.emotion_scores.values())
    for u in utterances:
        assert set(u.emotion_scores) == {"joy", "sadness", "anger", "surprise", "disgust", "fear"}
        assert isinstance(u.sentiment_score, float) and -3 <= u.sentiment_score <= 3
        assert u.sentiment == sentiment_from_score(u.sentiment_score)  # the 3-class label, by the shared rule
        if u.raw_label != "none":
            assert u.emotion_scores[u.emotion] == max(u.emotion_scores.values())
        assert u.speaker_id == u.dialogue_id == u.native_id.rsplit("_", 1)[0] and u.text
    ordered = [by_id[f"-3g5yACwYnA_{k:03d}"] for k in range(4)]
    assert [u.segment[0] for u in ordered] == sorted(u.segment[0] for u in ordered)  # numbered by start time
    assert ordered[1].text == "the plot was honestly all over the place"  # only the overlapping transcript line
    assert by_id["2mWPHvbKzL8_000"].segment[0] < 0  # a real interval can start before 0


def test_build_cuts_the_segments_and_keeps_the_scores_in_the_manifest(demo_raw, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["prepare", "--datasets", "mosei", "--raw_dir", str(demo_raw), "--out_dir", str(out), "--quiet"]
    assert main([*argv, "--num_workers", "1"]) == 0, capsys.readouterr().err
    records = read_manifest(out / MANIFEST_NAME)
    assert len(records) == 23 and {r.split_by for r in records} == {"official"}
    lines = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert all(isinstance(line["sentiment_score"], float) and len(line["emotion_scores"]) == 6 for line in lines)
    durations = np.array([r.duration_s for r in records])
    assert durations.max() < 1.6  # a segment, never the whole video wav (about 5 s)
    assert validate(out).ok


def test_without_the_folds_file_the_split_is_the_builders_and_noted(raw_copy, parse):
    (raw_copy / "CMU-MOSEI" / mosei.FOLDS_FILE).unlink()
    utterances, _ = parse(raw_copy / "CMU-MOSEI")
    assert len(utterances) == 7 * 4 - 1 and {u.split for u in utterances} == {None}
    assert all(u.notes == [mosei.NO_FOLDS_NOTE] for u in utterances)


def test_the_zip_folder_is_found_and_download_says_where_to_get_it(raw_copy, tmp_path):
    (raw_copy / "CMU-MOSEI").rename(raw_copy / "Raw")
    assert mosei.locate(raw_copy) == raw_copy / "Raw"
    with pytest.raises(ManualDownloadRequired, match=r"CMU_MOSEI_Labels\.csd"):
        mosei.download(tmp_path)
