"""Extreme lengths: a field far beyond any real transcript costs its own row, named at its line, and the
rows after it are kept; it never stops the corpus or is silently truncated."""

import csv

from .test_encodings import _parse
from .test_layouts import _write_meld_csvs


def test_a_200_kb_meld_utterance_is_one_counted_problem_and_the_rows_after_it_are_kept(tmp_path):
    corpus = tmp_path / "MELD"
    _write_meld_csvs(corpus, rows_per_split=4)
    train = corpus / "train_sent_emo.csv"
    with train.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[2][1] = "so " * 70_000  # line 3: 210,000 characters, beyond the csv module's field limit
    with train.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    utterances, ctx = _parse(corpus, continue_on_error=True)
    assert ctx.problems == [
        {"dataset": "MELD", "file": f"{train}:3", "reason": "not a CSV record (field larger than field limit (131072))"}
    ]
    kept = sorted(u.native_id for u in utterances if u.split == "train")
    assert kept == ["train_dia0_utt0", "train_dia0_utt2", "train_dia0_utt3"]
    assert len(utterances) == 11 and all(len(u.text) < 100 for u in utterances)
