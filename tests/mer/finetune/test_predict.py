"""Prediction with fine-tuned checkpoints: predict.py and Predictor give what evaluation gave, from raw files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mer import Predictor
from mer.commands import train_e2e_main
from mer.prediction.cli import predict_main


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus, tiny_encoders, ft):
    """A+T fine-tuned with modality dropout (so audio alone can be predicted), and its evaluation."""
    out = tmp_path_factory.mktemp("ft_predict")
    sets = ft.sets(
        corpus,
        out,
        **{
            "encoders.text.model": tiny_encoders["bert"],
            "encoders.audio.model": tiny_encoders["wav2vec2"],
            "encoders.audio.mode": "lora",
            "encoders.audio.pooling": "mean_std",
            "data.include_speaker": "true",
            "data.context_window": 1,
            "training.modality_dropout": 0.3,
        },
    )
    assert train_e2e_main(["--run_name", "r", "--quiet", "--set", *sets]) == 0
    return out / "r" / "seed1"


def test_predictor_reproduces_the_evaluation_of_each_test_utterance(trained, corpus):
    predictor = Predictor.from_checkpoint(trained / "checkpoints" / "best.pt")
    records = [json.loads(line) for line in (corpus / "meta_manifest.jsonl").read_text().splitlines()]
    tests = [r for r in records if r["group"] == "testB" and r["utterance_index"] == 0]  # no earlier turn
    results = predictor.predict(
        [corpus / r["audio_path"] for r in tests],
        texts=[r["text"] for r in tests],
        speakers=[r["speaker_id"] for r in tests],
    )
    evaluated = {}
    with (trained / "eval" / "testB" / "predictions.csv").open() as handle:
        header = handle.readline().strip().split(",")
        for line in handle:
            row = dict(zip(header, line.strip().split(","), strict=True))
            evaluated[row["id"]] = [float(row[f"p_{label}"]) for label in predictor.labels]
    for record, result in zip(tests, results, strict=True):
        assert result.ok and result.modalities == ("audio", "text")
        got = [result.probabilities[label] for label in predictor.labels]
        np.testing.assert_allclose(got, evaluated[record["id"]], atol=2e-4)


def test_predict_cli_on_a_file_with_and_without_its_transcript(trained, corpus, tmp_path, capsys):
    wav = next((corpus / "audio" / "MELD").glob("test_*.wav"))
    output = tmp_path / "preds.jsonl"
    ckpt = str(trained / "checkpoints" / "best.pt")
    assert predict_main(["--ckpt", ckpt, str(wav), "--text", "i am so angry", "--output", str(output)]) == 0
    with_text = json.loads(output.read_text())
    assert with_text["modalities"] == ["audio", "text"] and with_text["label"] in with_text["probabilities"]
    without_text = ["--overwrite", "--transcribe", "never"]  # audio alone, not Whisper's transcript
    assert predict_main(["--ckpt", ckpt, str(wav), "--output", str(output), *without_text]) == 0
    alone = json.loads(output.read_text())
    assert alone["modalities"] == ["audio"] and alone["probabilities"] != with_text["probabilities"]
    capsys.readouterr()


def test_a_long_recording_is_cropped_like_evaluation_and_says_so(trained, corpus, tmp_path):
    from mer_builder.audio import write_wav

    long = tmp_path / "long.wav"
    write_wav(long, np.tile(np.sin(np.arange(16000) / 10).astype(np.float32) * 0.3, 3))
    (result,) = Predictor.from_checkpoint(trained / "checkpoints" / "best.pt").predict([long], texts=["yes"])
    assert result.ok and any("centre 1 s was used" in note for note in result.notes)
    timeline = Predictor.from_checkpoint(trained / "checkpoints" / "best.pt").predict(
        [long], texts=["yes"], window_s=1.0
    )[0]
    assert len(timeline.timeline) == 3


def test_a_fine_tuned_prediction_is_explained(trained, corpus):
    wav = next((corpus / "audio" / "MELD").glob("test_*.wav"))
    predictor = Predictor.from_checkpoint(trained / "checkpoints" / "best.pt")
    (result,) = predictor.explain([wav], texts=["i am so angry today"])
    explanation = result.explanation
    assert result.ok and explanation is not None and explanation.label == result.label
    assert [m.modality for m in explanation.modalities] == ["audio", "text"]
    shares = [m.share for m in explanation.modalities if m.share is not None]  # None: no modality was needed
    assert not shares or abs(sum(shares) - 1) < 1e-6
    assert explanation.word_method == "integrated-gradients"  # the fine-tuned encoder is differentiated
    assert [w.word for w in explanation.words] == ["i", "am", "so", "angry", "today"]
    assert all(np.isfinite(w.effect) for w in explanation.words) and any(w.effect != 0 for w in explanation.words)
    assert explanation.sentence.startswith(f"Predicted {result.label}")


def test_each_token_of_the_transcript_is_given_to_its_word(trained):
    """Speaker prefix, context and special tokens belong to no word; each word gets its own tokens."""
    from mer.explain.explainer import _token_words

    tokenizer = Predictor.from_checkpoint(trained / "checkpoints" / "best.pt").pipeline.tokenizer
    words = ["angry", "today"]
    first = "Joey: angry today"
    ids = tokenizer(first, "Ross: hello there")["input_ids"]
    index = _token_words(tokenizer, ids, first, len("Joey: "), words)
    for n, word in enumerate(words):  # a word's tokens are those it tokenises to on its own
        assert [i for i, k in zip(ids, index, strict=True) if k == n] == tokenizer(word, add_special_tokens=False)[
            "input_ids"
        ]
    assert sum(k is not None for k in index) == sum(
        len(tokenizer(w, add_special_tokens=False)["input_ids"]) for w in words
    )
