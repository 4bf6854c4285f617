"""Corpus cards: your own corpus from a YAML card over a CSV/TSV table or a folder-per-label layout, no code."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mer.commands import train_main
from mer.features.cli import extract_main, memmap_main
from mer.prediction.cli import predict_main
from mer_builder.cli import main
from mer_builder.demo.tones import synth_utterance
from mer_builder.manifest import MANIFEST_NAME, read_manifest
from mer_builder.recipes.card import CardError, load_card
from mer_builder.recipes.common import CorpusError, ParseContext

REPO = Path(__file__).resolve().parents[2]
SPEAKERS = ("spk01", "spk02", "spk03", "spk04", "spk05", "spk06")
RAW_LABELS = {"angry": "anger", "glad": "joy", "calm": "neutral", "blue": "sadness", "sleepy": None}


def _wav(path, emotion, rng, seconds=0.5):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, synth_utterance(emotion, rng, 16000, seconds), 16000, subtype="PCM_16")


def write_table_corpus(root, delimiter=",", seed=0):
    """clips/<speaker>/<n>.wav and metadata.csv (or .tsv, paths relative to clips/), text on some rows; the card."""
    rng = np.random.default_rng(seed)
    lines = [delimiter.join(("path", "emotion", "speaker", "text", "gender"))]
    for s, speaker in enumerate(SPEAKERS):
        for n, (raw, emotion) in enumerate(RAW_LABELS.items()):
            _wav(root / "clips" / speaker / f"{n}.wav", emotion or "neutral", rng)
            text = "" if n % 2 else "Wir sehen uns morgen."  # text is optional row by row
            lines.append(delimiter.join((f"{speaker}/{n}.wav", raw, speaker, text, "mf"[s % 2])))
    table = root / ("metadata.tsv" if delimiter == "\t" else "metadata.csv")
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    card = root / "card.yaml"
    labels = "\n".join(f"  {raw}: {emotion or 'null'}" for raw, emotion in RAW_LABELS.items())
    card.write_text(
        f"name: MyTable\ntable: {table.name}\naudio_root: clips\nlanguage: de\nlicence: CC0-1.0\nlabels:\n{labels}\n"
    )
    return card


def write_folder_corpus(root, seed=1):
    """data/<label>/<speaker>_<n>.flac (folder per label, speaker in the name); returns the card path."""
    rng = np.random.default_rng(seed)
    for speaker in SPEAKERS:
        for raw, emotion in RAW_LABELS.items():
            for n in range(2):
                path = root / "data" / raw / f"{speaker.upper()}_{n}.flac"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, synth_utterance(emotion or "neutral", rng, 16000, 0.5), 16000)
    (root / "data" / "glad" / "readme.txt").write_text("not audio: ignored")
    card = root / "card.yaml"
    labels = "\n".join(f"  {raw}: {emotion or 'null'}" for raw, emotion in RAW_LABELS.items())
    card.write_text(
        "name: MyFolders\nfolders: data\nspeaker_regex: '^(?P<speaker>SPK\\d+)_'\nextensions: [.flac]\n"
        f"language: fr\nlabels:\n{labels}\n"
    )
    return card


def _parse(card):
    ctx = ParseContext(card.CORPUS)
    return list(card.parse(card.locate(), ctx)), ctx


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_a_table_card_gives_every_row_with_its_label_speaker_text_and_gender(tmp_path, delimiter):
    card = load_card(write_table_corpus(tmp_path, delimiter), "mytable")
    assert (card.NAME, card.CORPUS, card.LICENCE, card.language) == ("mytable", "MyTable", "CC0-1.0", "de")
    utterances, ctx = _parse(card)
    assert len(utterances) == 6 * 4 and len(ctx.drops) == 6 and not ctx.problems  # "sleepy" maps to null
    assert all("'sleepy' is always dropped" in d["reason"] for d in ctx.drops)
    first = utterances[0]
    assert (first.native_id, first.speaker_id, first.raw_label, first.emotion) == ("spk01/0", "spk01", "angry", "anger")
    assert first.text == "Wir sehen uns morgen." and first.gender == "male" and first.language == "de"
    assert all(u.source.is_file() for u in utterances)
    assert {u.text for u in utterances if u.native_id.endswith("/1")} == {""}


def test_a_folder_card_takes_the_label_from_the_folder_and_the_speaker_from_the_name(tmp_path):
    card = load_card(write_folder_corpus(tmp_path), "myfolders")
    utterances, ctx = _parse(card)
    assert len(utterances) == 6 * 4 * 2 and len(ctx.drops) == 12 and not ctx.problems
    assert {u.speaker_id for u in utterances} == {s.upper() for s in SPEAKERS}
    assert {(u.raw_label, u.emotion) for u in utterances} == {(r, e) for r, e in RAW_LABELS.items() if e}
    assert all(u.text == "" and u.language == "fr" and u.native_id.startswith(u.raw_label + "/") for u in utterances)


def test_a_label_the_card_does_not_map_and_a_name_without_speaker_are_problems(tmp_path):
    card_path = write_folder_corpus(tmp_path)
    (tmp_path / "data" / "glad" / "nobody.flac").write_bytes((tmp_path / "data" / "glad" / "SPK01_0.flac").read_bytes())
    (tmp_path / "data" / "bored").mkdir()
    (tmp_path / "data" / "bored" / "SPK01_0.flac").write_bytes(b"")
    card = load_card(card_path, "myfolders")
    with pytest.raises(CorpusError, match="label folder 'bored' is not in the card's labels"):
        _parse(card)
    ctx = ParseContext(card.CORPUS, continue_on_error=True)
    list(card.parse(card.locate(), ctx))
    reasons = sorted(p["reason"] for p in ctx.problems)
    assert reasons[0].startswith("label folder 'bored'") and "finds no speaker in the name" in reasons[1]


@pytest.mark.parametrize(
    ("card_text", "message"),
    [
        ("table: t.csv\nlanguage: en\n", "`labels` must be a non-empty dict"),
        ("table: t.csv\nlanguage: en\nlabels: {a: rage}\n", "labels map to {'a': 'rage'}, outside the label space"),
        ("language: en\nlabels: {a: anger}\n", "give exactly one of `table`"),
        ("table: t.csv\nfolders: d\nlanguage: en\nlabels: {a: anger}\n", "give exactly one of `table`"),
        ("folders: d\nlanguage: en\nlabels: {a: anger}\n", "`speaker_regex` must be a non-empty str"),
        ("folders: d\nspeaker_regex: '('\nlanguage: en\nlabels: {a: anger}\n", "is not a regular expression"),
        ("table: t.csv\nlabels: {a: anger}\n", "`language` must be a non-empty str"),
        ("table: t.csv\nlanguage: en\nlabels: {a: anger}\nspeakers: 3\n", "unknown keys ['speakers']"),
        ("name: my corpus\ntable: t.csv\nlanguage: en\nlabels: {a: anger}\n", "name 'my corpus' must be letters"),
        ("table: [\n", "not valid YAML"),
    ],
)
def test_a_bad_card_is_one_line_naming_the_card_and_the_key(tmp_path, card_text, message):
    card = tmp_path / "card.yaml"
    card.write_text(card_text)
    with pytest.raises(CardError, match=re.escape(message)) as info:
        load_card(card, "mine")
    assert str(info.value).startswith(f"{card}: ") and "\n" not in str(info.value)


def test_table_problems_name_the_row(tmp_path):
    card_path = write_table_corpus(tmp_path)
    table = tmp_path / "metadata.csv"
    lines = table.read_text().splitlines()
    lines[2] = lines[2].replace(",glad,", ",furious,")
    lines[5] = lines[5][:-1] + "x"  # the gender column
    table.write_text("\n".join(lines) + "\n")
    card = load_card(card_path, "mine")
    ctx = ParseContext(card.CORPUS, continue_on_error=True)
    kept = list(card.parse(card.locate(), ctx))
    assert [p["file"] for p in ctx.problems] == [f"{table}:3", f"{table}:6"] and len(kept) == 23
    assert "unknown raw label 'furious'" in ctx.problems[0]["reason"]
    assert "gender 'x' is not one of" in ctx.problems[1]["reason"]


def test_a_split_column_keeps_the_cards_own_splits(tmp_path, capsys):
    card = write_table_corpus(tmp_path / "c")
    table = tmp_path / "c" / "metadata.csv"
    lines = table.read_text().splitlines()
    lines = [lines[0] + ",split"] + [f"{line},{('train', 'dev', 'test')[i % 3]}" for i, line in enumerate(lines[1:])]
    table.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main(["prepare", "--datasets", f"mine={card}", "--out_dir", str(out), "--quiet"]) == 0, capsys.readouterr()
    records = read_manifest(out / MANIFEST_NAME)
    assert {r.split for r in records} == {"train", "val", "test"}
    assert main(["validate", "--out_dir", str(out), "--datasets", f"mine={card}"]) == 0  # speakers recur: official


@pytest.mark.slow
def test_a_card_corpus_goes_through_validate_features_loco_and_predict(tmp_path, capsys):
    """Two card corpora (one per layout) through the real commands, as any built-in corpus goes."""
    table_card, folder_card = write_table_corpus(tmp_path / "t"), write_folder_corpus(tmp_path / "f")
    processed = tmp_path / "processed"
    datasets = ["--datasets", f"mytable={table_card}", f"myfolders={folder_card}"]
    assert main(["prepare", *datasets, "--out_dir", str(processed), "--num_workers", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "MyTable: 24 records" in out and "MyFolders: 48 records" in out
    assert main(["validate", "--out_dir", str(processed)]) == 0
    assert main(["integrity", "--out_dir", str(processed), "--num_workers", "1", "--quiet"]) == 0
    report = json.loads((processed / "build_report.json").read_text())
    assert report["corpora"]["MyTable"]["card"] == str(table_card) and report["corpora"]["MyTable"]["licence"]
    assert report["counts_per_reason"]["drops"]  # the null-mapped label is counted, not silently lost
    records = read_manifest(processed / MANIFEST_NAME)
    assert {r.dataset for r in records} == {"MyTable", "MyFolders"}
    for dataset in ("MyTable", "MyFolders"):  # speaker-disjoint splits, as for a built-in corpus
        splits = {}
        for r in records:
            if r.dataset == dataset:
                splits.setdefault(r.speaker_id, set()).add(r.split)
        assert all(len(s) == 1 for s in splits.values()) and len(set().union(*splits.values())) == 3

    pickles, features = tmp_path / "F", tmp_path / "M"
    assert extract_main(["--processed_dir", str(processed), "--out_dir", str(pickles), "--n_mfcc", "13",
                         "--text_dim", "64", "--quiet"]) == 0  # fmt: skip
    for group in ("train", "val", "testA"):
        assert memmap_main(["--in_dir", str(pickles / group), "--out_dir", str(features / group), "--quiet"]) == 0
    sets = [f"data.features_dir={features}", f"experiment.output_dir={tmp_path / 'runs'}", "training.epochs=2",
            "model.hidden_dim=16", "training.num_threads=1", "training.early_stopping.patience=null"]  # fmt: skip
    assert (
        train_main(["--config", str(REPO / "configs" / "loco.yaml"), "--run_name", "cards", "--quiet", "--set", *sets])
        == 0
    )
    results = (tmp_path / "runs" / "cards" / "results.csv").read_text()
    assert "loco_MyTable" in results and "loco_MyFolders" in results
    checkpoint = tmp_path / "runs" / "cards" / "loco_MyTable" / "seed1" / "checkpoints" / "best.pt"
    clip = next((tmp_path / "t" / "clips").rglob("*.wav"))
    argv = [
        str(clip),
        "--ckpt",
        str(checkpoint),
        "--text",
        "Wir sehen uns morgen.",
        "--output",
        str(tmp_path / "p.csv"),
    ]
    assert predict_main([*argv, "--quiet"]) == 0
    assert (tmp_path / "p.csv").read_text().count("\n") == 2
