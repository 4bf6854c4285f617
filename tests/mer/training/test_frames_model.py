"""The attentive_frames model over a ragged frame store: trains, records its layers, refuses other layer choices."""

import json

import numpy as np
import pytest
import torch

from mer.commands import evaluate_main, train_main
from mer.features.frames import RaggedWriter
from mer.models import build_model
from mer.models.frames import AttentiveFrames, TokenFrames
from mer.training.checkpoint import load_checkpoint, model_from_checkpoint

DIM, LAYERS = 8, 2


def _feature_config(layers: str) -> dict:
    part = {"type": "speech_encoder", "model": "tiny", "pooling": "meanstd", "frames": True, "layers": layers}
    return {"format_version": 1, "sample_rate": 16000, "audio": [part], "text": None, "video": None}


def _write_frames_root(root, synth, layers="all", seed=0, n_layers=LAYERS):
    """Clips of 6-30 frames of `n_layers` stacked layers; in the last layer, one frame per clip carries its class.

    Averaged over a clip that frame is diluted, so the vector (mean+std) sees a weak signal; attention can find it.
    """
    rows = synth.rows(per_group=40, seed=seed)
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(99).standard_normal((7, DIM)).astype(np.float32) * 4
    for group in ("train", "val", "testA", "testB"):
        meta = [r for r in rows if r["group"] == group]
        path = root / group
        path.mkdir(parents=True)
        writer = RaggedWriter(path, "audio", DIM * n_layers, "float32")
        vectors = []
        for row in meta:
            frames = rng.standard_normal((int(rng.integers(6, 31)), n_layers, DIM)).astype(np.float32)
            frames[rng.integers(len(frames)), -1] += prototypes[row["true_label"]]
            frames = frames.reshape(len(frames), -1) * 3.0 + 1.0
            writer.append(frames)
            vectors.append(np.concatenate([frames.mean(0), frames.std(0)]))
        total = writer.close()
        np.save(path / "audio.npy", np.stack(vectors))
        np.save(path / "labels.npy", np.asarray([r["true_label"] for r in meta], dtype=np.int64))
        (path / "meta.jsonl").write_text("".join(json.dumps(r) + "\n" for r in meta), encoding="utf-8")
        info = {
            "modalities": ["audio"], "dims": {"audio": 2 * DIM * n_layers}, "dtype": "float32", "n_rows": len(meta),
            "frames": {"audio": {"dim": DIM * n_layers, "total": total, "layers": n_layers}},
            "feature_config": _feature_config(layers),
        }  # fmt: skip
        (path / "info.json").write_text(json.dumps(info), encoding="utf-8")
    return root


@pytest.mark.parametrize("name", ["attentive_frames", "token_frames"])
def test_frames_models_read_real_frames_only_and_mix_layers(name):
    config = {"name": name, "hidden_dim": 16, "dropout": 0.0, "frames_head": "flexible_at",
              "pool_heads": 2, "gate": "sigmoid", "ffn_mult": 2, "num_layers": 1, "num_heads": 2}  # fmt: skip
    model = build_model(config, ["audio"], {"audio": DIM * LAYERS}, 7, frame_layers={"audio": LAYERS}).eval()
    assert isinstance(model, (AttentiveFrames, TokenFrames))
    assert model.encoders["audio"].layer_weights.tolist() == [0.5, 0.5]
    frames, mask = torch.randn(2, 9, DIM * LAYERS), torch.zeros(2, 9, dtype=torch.bool)
    mask[0, :4], mask[1, :9] = True, True
    out = model({"audio_frames": frames, "audio_frames_mask": mask})
    frames[0, 4:] = 1e4  # padding changes nothing
    torch.testing.assert_close(model({"audio_frames": frames, "audio_frames_mask": mask}), out)
    alone = model({"audio_frames": frames[:1, :4], "audio_frames_mask": mask[:1, :4]})
    torch.testing.assert_close(alone, out[:1])
    frames[1, 0] = 3 * torch.randn(DIM * LAYERS)  # a real frame does
    assert not torch.allclose(model({"audio_frames": frames, "audio_frames_mask": mask})[1], out[1])


def _uar(run_dir):
    return json.loads((run_dir / "seed1/eval/testA/metrics_eval.json").read_text())["uar"]


@pytest.mark.parametrize("name", ["attentive_frames", "token_frames"])
def test_frames_models_train_on_a_ragged_store(synth, tmp_path, name):
    root = _write_frames_root(tmp_path / "M", synth, layers="last", n_layers=1)
    sets = synth.sets(root, tmp_path, **{"data.modalities": "[A]", "training.epochs": 25, "model.dropout": 0.0})
    assert train_main(["--run_name", "frames", "--quiet", "--set", *sets, f"model.name={name}"]) == 0
    assert _uar(tmp_path / "frames") > 0.35  # chance is 1/7
    checkpoint = load_checkpoint(tmp_path / "frames/seed1/checkpoints/best.pt")
    assert checkpoint["frame_layers"] == {"audio": 1} and checkpoint["model_config"]["name"] == name


def test_stacked_layers_are_mixed_recorded_and_another_layer_choice_is_refused(synth, tmp_path, capsys):
    root = _write_frames_root(tmp_path / "M", synth)
    sets = synth.sets(root, tmp_path, **{"data.modalities": "[A]", "training.epochs": 12, "model.dropout": 0.0})
    assert train_main(["--run_name", "frames", "--quiet", "--set", *sets, "model.name=attentive_frames"]) == 0
    assert _uar(tmp_path / "frames") > 0.3  # chance is 1/7
    ckpt = tmp_path / "frames/seed1/checkpoints/best.pt"
    checkpoint = load_checkpoint(ckpt)
    assert checkpoint["frame_layers"] == {"audio": LAYERS} and checkpoint["dims"] == {"audio": DIM * LAYERS}
    assert checkpoint["feature_config"]["audio"][0]["layers"] == "all"
    weights = model_from_checkpoint(checkpoint).encoders["audio"].layer_weights
    assert weights[-1] > weights[0]  # the mix moved toward the layer that holds the signal

    other = _write_frames_root(tmp_path / "last", synth, layers="last", seed=1)
    argv = ["--ckpt", str(ckpt), "--set", f"data.eval_dir={other / 'testA'}", "--output_dir", str(tmp_path / "e")]
    assert evaluate_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "hold encoder layers 'last'" in err[-1] and "layers 'all'" in err[-1]
    vectors_only = tmp_path / "vectors"
    synth.write_root(vectors_only, dims={"audio": 2 * DIM * LAYERS}, per_group=5)
    argv = [
        "--ckpt",
        str(ckpt),
        "--set",
        f"data.eval_dir={vectors_only / 'testA'}",
        "--output_dir",
        str(tmp_path / "v"),
    ]
    assert evaluate_main(argv) == 2
    assert "reads audio frames but this store keeps none" in capsys.readouterr().err


def test_a_frames_model_on_a_store_without_frames_is_one_clear_error(synth, tmp_path, capsys):
    root = synth.write_root(tmp_path / "M", per_group=10)
    sets = synth.sets(root, tmp_path, **{"data.modalities": "[A]", "model.name": "attentive_frames"})
    assert train_main(["--run_name", "x", "--quiet", "--set", *sets]) == 2
    assert "reads per-frame features" in capsys.readouterr().err


@pytest.mark.parametrize("head", ["robust_atv", "attentive_frames"])
def test_the_head_must_be_a_vector_model(head):
    config = {"name": "attentive_frames", "hidden_dim": 16, "dropout": 0.0, "frames_head": head, "pool_heads": 1,
              "num_layers": 1, "num_heads": 2, "ffn_mult": 2}  # fmt: skip
    if head == "attentive_frames":
        with pytest.raises(ValueError, match="frames_head"):
            build_model(config, ["audio"], {"audio": DIM}, 7)
    else:  # the token-transformer fusion over the pooled frames
        model = build_model(config, ["audio"], {"audio": DIM}, 7)
        frames = {"audio_frames": torch.randn(3, 5, DIM), "audio_frames_mask": torch.ones(3, 5, dtype=torch.bool)}
        assert model(frames).shape == (3, 7)


@pytest.mark.parametrize("name", ["attentive_frames", "token_frames"])
def test_audio_and_text_frames_a_dropped_modality_has_no_effect(name):
    config = {"name": name, "hidden_dim": 16, "dropout": 0.0, "frames_head": "flexible_at", "pool_heads": 1,
              "gate": "sigmoid", "ffn_mult": 2, "num_layers": 1, "num_heads": 2}  # fmt: skip
    torch.manual_seed(0)
    model = build_model(config, ["audio", "text"], {"audio": DIM, "text": 6}, 7).eval()
    inputs = {
        "audio_frames": torch.randn(4, 7, DIM), "audio_frames_mask": torch.ones(4, 7, dtype=torch.bool),
        "text_frames": torch.randn(4, 3, 6), "text_frames_mask": torch.ones(4, 3, dtype=torch.bool),
    }  # fmt: skip
    present = torch.tensor([[True, False], [True, False], [True, True], [True, True]])
    out = model(inputs, present)
    inputs["text_frames"] = torch.randn(4, 3, 6) * 100
    changed = model(inputs, present)
    torch.testing.assert_close(changed[:2], out[:2])
    assert not torch.allclose(changed[2:], out[2:])
