"""`Predictor.explain` and `predict.py --explain` on the demo models: every number checked against the model itself."""

from __future__ import annotations

import json

import pytest
import torch

from mer import Predictor
from mer.explain.acoustics import acoustic_cues
from mer.explain.explainer import gate_shares, word_attributions
from mer.explain.reference import REFERENCE_KEY, reference_main
from mer.models import GatedAVT
from mer.prediction.cli import predict_main
from mer.training.checkpoint import load_checkpoint, save_checkpoint
from mer_builder.audio import load_audio


@pytest.fixture(scope="module")
def explained(demo):
    records = demo.group("testB")[:3]
    predictor = Predictor.from_checkpoint(demo.checkpoints["at_dropout"], device="cpu")
    texts, speakers = [r["text"] for r in records], [r["speaker_id"] for r in records]
    paths = [demo.audio(r) for r in records]
    return predictor, records, predictor.explain(paths, texts, speakers), paths, texts, speakers


def test_training_stores_the_neutral_reference_in_checkpoints(demo):
    checkpoint = load_checkpoint(demo.checkpoints["at_dropout"])
    reference = checkpoint[REFERENCE_KEY]
    neutral_train = [r for r in demo.group("train") if r["emotion"] == "neutral"]
    assert reference["class"] == "neutral" and reference["files"] == len(neutral_train) > 0
    assert set(reference["corpora"]) == {r["dataset"] for r in neutral_train}
    first = acoustic_cues(load_audio(demo.audio(neutral_train[0]))[0], 16000)
    stats = reference["cues"]["loudness"]
    assert stats["p10"] <= stats["p50"] <= stats["p90"] and stats["n"] == len(neutral_train)
    assert stats["p10"] - 1e-3 <= first["loudness"] or first["loudness"] <= stats["p90"] + 1e-3


def test_modality_shares_are_gates_and_occlusion(explained):
    predictor, _, results, paths, _, _ = explained
    audio_only = predictor.predict(paths, transcribe="never")
    for result, alone in zip(results, audio_only, strict=True):
        e = result.explanation
        assert e.label == result.label and e.probability == pytest.approx(result.probabilities[result.label], abs=1e-6)
        audio, text = e.modalities
        assert (audio.modality, text.modality) == ("audio", "text")
        assert audio.gate + text.gate == pytest.approx(1.0) and 0 < audio.gate < 1
        # masking the text is what prediction without a transcript does
        assert text.probability_without == pytest.approx(alone.probabilities[e.label], abs=1e-5)
        assert text.drop == pytest.approx(e.probability - text.probability_without, abs=1e-5)
        positive = [max(m.drop, 0) for m in e.modalities]
        if sum(positive) > 0:
            assert audio.share == pytest.approx(positive[0] / sum(positive), abs=1e-5)
        assert result.to_dict()["explanation"]["modalities"][0]["modality"] == "audio"


def test_word_effects_are_leave_one_word_out(explained):
    predictor, _, results, paths, texts, speakers = explained
    result, path, text, speaker = results[0], paths[0], texts[0], speakers[0]
    e = result.explanation
    assert e.word_method == "leave-one-word-out" and [w.word for w in e.words] == text.split()
    for w in e.words[:3]:
        shorter = " ".join(t for i, t in enumerate(text.split()) if i != w.index)
        (without,) = predictor.predict([path], [shorter], [speaker])
        assert w.effect == pytest.approx(e.probability - without.probabilities[e.label], abs=1e-5)


def test_cues_sentence_and_the_audio_only_model(explained, demo):
    predictor, _, results, paths, *_ = explained
    e = results[0].explanation
    measured = acoustic_cues(load_audio(paths[0])[0], 16000)
    reference = predictor.acoustic_reference["cues"]
    for reading in e.cues:
        assert reading.value == pytest.approx(measured[reading.cue], abs=1e-3)
        stats = reference[reading.cue]
        assert reading.deviation == pytest.approx(reading.value - stats["p50"], abs=2e-3)
        assert reading.typical == (stats["p10"] <= reading.value <= stats["p90"])
    assert e.sentence.startswith(f"Predicted {e.label} (p = {e.probability:.2f}).")
    for reading in e.cues:
        if reading.typical is False:
            assert f"{abs(reading.deviation):.1f}" in e.sentence

    audio_model = Predictor.from_checkpoint(demo.checkpoints["audio_only"], device="cpu")
    (plain,) = audio_model.explain([paths[0]])
    assert [(m.modality, m.share) for m in plain.explanation.modalities] == [("audio", 1.0)]
    assert plain.explanation.words == () and plain.explanation.word_method is None


def test_gated_avt_gate_shares_sum_to_one():
    torch.manual_seed(0)
    model = GatedAVT(("audio", "text", "video"), {"audio": 6, "text": 5, "video": 4}, 7, hidden_dim=8).eval()
    features = {m: torch.randn(1, d) for m, d in {"audio": 6, "text": 5, "video": 4}.items()}
    shares = gate_shares(model, features)
    assert set(shares) == {"audio", "text", "video"} and sum(shares.values()) == pytest.approx(1.0)
    with torch.no_grad():
        encoded = {m: model.encoders[m](features[m]) for m in model.modalities}
        z = torch.sigmoid(model.pairs["audio_video"].gate(torch.cat([encoded["audio"], encoded["video"]], -1)))
        z_text = torch.sigmoid(model.pairs["text_audio"].gate(torch.cat([encoded["text"], encoded["audio"]], -1)))
    assert shares["audio"] == pytest.approx((float(z.mean()) + 1 - float(z_text.mean())) / 3, abs=1e-6)


def test_integrated_gradients_over_words_are_complete():
    """Attributions of a tiny BERT + linear head sum to p(input) - p(baseline), grouped by word."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32)).eval()  # fmt: skip
    head = torch.nn.Linear(16, 7)

    def forward(ids):
        return torch.softmax(head(bert(input_ids=ids).last_hidden_state[:, 0]), dim=-1)

    ids = torch.tensor([[2, 11, 12, 13, 14, 3]])  # [CLS] word0 (two pieces) word1 word2 [SEP]
    word_index = [None, 0, 0, 1, 2, None]
    target = int(forward(ids).argmax())
    effects = word_attributions(bert.embeddings, forward, ids, word_index, target, baseline_id=0, steps=200)
    baseline = torch.tensor([[2, 0, 0, 0, 0, 3]])
    expected = float(forward(ids)[0, target] - forward(baseline)[0, target])
    assert len(effects) == 3 and sum(effects) == pytest.approx(expected, abs=2e-3)


def test_command_line_json_card_and_no_overwrite(demo, tmp_path, capsys):
    records = demo.group("testB")[:2]
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("path,text\n" + "".join(f'{demo.audio(r)},"{r["text"]}"\n' for r in records))
    ckpt = str(demo.checkpoints["at_dropout"])
    out = tmp_path / "preds.jsonl"
    assert (
        predict_main(["--ckpt", ckpt, "--transcripts", str(csv_path), "--explain", "--output", str(out), "--quiet"])
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row, record in zip(rows, records, strict=True):
        name = record["id"].split("/")[1]
        card = json.loads((tmp_path / "preds.explain" / f"{name}.json").read_text())
        assert card["explanation"] == row["explanation"] and card["label"] == row["label"]
        assert row["explanation"]["sentence"].startswith(f"Predicted {row['label']}")

        import matplotlib.image

        image = matplotlib.image.imread(tmp_path / "preds.explain" / f"{name}.png")
        assert image.shape[0] > 400 and image.shape[1] > 600 and image[..., :3].std() > 0.05
    assert predict_main(["--ckpt", ckpt, "--transcripts", str(csv_path), "--explain", "--output", str(out)]) == 2
    assert "already exist" in capsys.readouterr().err

    csv_out = tmp_path / "table.csv"  # its own .explain folder: table.explain/
    assert predict_main(["--ckpt", ckpt, "--transcripts", str(csv_path), "--explain", "--output", str(csv_out)]) == 0
    header = csv_out.read_text().splitlines()[0].split(",")
    assert header[-3:] == ["explanation", "notes", "error"]
    assert predict_main(["--ckpt", ckpt, str(demo.audio(records[0])), "--text", records[0]["text"], "--explain"]) == 0
    assert f"explanation: {demo.audio(records[0])}: Predicted" in capsys.readouterr().out


def test_reference_command_writes_a_new_checkpoint(demo, tmp_path, capsys):
    original = load_checkpoint(demo.checkpoints["at_dropout"])
    bare = tmp_path / "bare.pt"
    save_checkpoint(bare, {k: v for k, v in original.items() if k != REFERENCE_KEY})
    before = bare.read_bytes()
    assert reference_main(["--ckpt", str(bare), "--out", str(bare)]) == 2
    assert "never modified" in capsys.readouterr().err
    assert reference_main(["--ckpt", str(bare), "--out", str(tmp_path / "with.pt")]) == 0
    assert bare.read_bytes() == before
    assert load_checkpoint(tmp_path / "with.pt")[REFERENCE_KEY] == original[REFERENCE_KEY]
    assert reference_main(["--ckpt", str(bare), "--out", str(tmp_path / "with.pt")]) == 2
    assert "already exists" in capsys.readouterr().err
    (result,) = Predictor.from_checkpoint(bare, device="cpu").explain([demo.audio(demo.group("testA")[0])])
    assert result.explanation.reference is None and "no neutral reference" in result.explanation.sentence
