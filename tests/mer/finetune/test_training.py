"""Fine-tuning end to end on the test corpus: the train_hf_e2e.py / evaluate_hf_e2e.py commands, training modes,
two stages, resume, and what goes wrong loudly."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from mer.commands import evaluate_e2e_main, evaluate_main, train_e2e_main, train_main
from mer.config import load_config, validate
from mer.experiment import run_experiment
from mer.finetune.encoders import EncoderSpec
from mer.finetune.model import FinetuneModel
from mer.training.checkpoint import load_checkpoint

QUIET = ["--quiet"]


def _run(capsys, main, *argv: str) -> tuple[int, str, str]:
    code = main([*argv])
    out, err = capsys.readouterr()
    return code, out, err


def _train(capsys, ft, corpus, tmp_path, name="run", **sets):
    return _run(capsys, train_e2e_main, "--run_name", name, *QUIET, "--set", *ft.sets(corpus, tmp_path / "out", **sets))


def _val_metric(run_dir, column="uar"):
    lines = (run_dir / "seed1" / "metrics_val.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [float(line.split(",")[header.index(column)]) for line in lines[1:]]


@pytest.mark.slow
def test_text_fine_tuning_learns_and_its_checkpoint_evaluates_the_same_everywhere(
    capsys, ft, corpus, tiny_encoders, tmp_path
):
    code, _, err = _train(
        capsys,
        ft,
        corpus,
        tmp_path,
        **{
            "data.modalities": "[T]",
            "encoders.text.model": tiny_encoders["bert"],
            "training.epochs": 6,
            "encoders.text.lr": 3e-3,
        },
    )
    assert code == 0, err
    run = tmp_path / "out" / "run"
    assert max(_val_metric(run)) >= 0.9  # the words decide the class: a fine-tuned encoder finds them
    best = run / "seed1" / "checkpoints" / "best.pt"
    checkpoint = load_checkpoint(best)
    assert checkpoint["kind"] == "finetune" and checkpoint["finetune"]["encoders"]["text"]["mode"] == "full"
    assert any(k.startswith("backbones.text.") for k in checkpoint["model_state"])
    in_run = json.loads((run / "seed1" / "eval" / "testB" / "metrics_eval.json").read_text())

    code, _, err = _run(
        capsys,
        evaluate_e2e_main,
        "--config",
        str(run / "config_resolved.yaml"),
        "--ckpt",
        str(best),
        "--set",
        "data.eval_splits=[testB]",
        "--output_dir",
        str(tmp_path / "e2e"),
        *QUIET,
    )
    assert code == 0, err
    code, _, err = _run(capsys, evaluate_main, "--ckpt", str(best), "--output_dir", str(tmp_path / "plain"), *QUIET)
    assert code == 0, err
    for folder in ("e2e", "plain"):
        again = json.loads((tmp_path / folder / "metrics_eval.json").read_text())
        assert again["weighted_f1"] == in_run["weighted_f1"] and again["n"] == in_run["n"] == 12
        assert again["confusion_matrix"] == in_run["confusion_matrix"]


@pytest.mark.parametrize(
    ("encoder", "modality", "mode"),
    [
        ("bert", "text", "full"),
        ("roberta", "text", "lora"),
        ("wav2vec2", "audio", "full"),
        ("wav2vec2", "audio", "lora"),
        ("bert", "text", "frozen"),
    ],
)
def test_each_mode_trains_exactly_its_parameters(tiny_encoders, corpus, encoder, modality, mode):
    from mer.finetune.inputs import open_utterances
    from mer.finetune.pipeline import prepare_inputs, text_inputs_from

    torch.manual_seed(0)
    spec = EncoderSpec(modality, str(tiny_encoders[encoder]), mode=mode, pooling="attentive", lr=1e-2)
    store, _ = open_utterances(corpus, [modality], 0.5)
    data = {"max_text_tokens": 32, "include_speaker": True, "context_window": 2}
    prepare_inputs(store, {modality: spec}, text_inputs_from(data), torch.device("cpu"))
    config = {"name": "flexible_at", "hidden_dim": 16, "dropout": 0.0, "gate": "sigmoid", "ffn_mult": 2}
    model = FinetuneModel([modality], {modality: spec}, store.frame_dims, config, 7)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = store.batch(np.arange(8))
    features = {k: torch.from_numpy(v) for k, v in batch.items() if k != "labels"}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    torch.nn.functional.cross_entropy(model(features), torch.from_numpy(batch["labels"])).backward()
    optimizer.step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    backbone = {k for k in changed if k.startswith("backbones.")}
    assert any(k.startswith("poolings.") for k in changed) and any(k.startswith("head.") for k in changed)
    stored = set(model.checkpoint_state())
    if mode == "frozen":
        assert not model.backbones and not backbone and store.frame_dims == {modality: 32}
    elif mode == "full":
        assert backbone and not any("lora_" in k for k in changed)
        assert {k for k in model.state_dict() if k.startswith("backbones.")} <= stored
    else:
        assert backbone and all("lora_" in k for k in backbone)
        base = {k for k in model.state_dict() if k.startswith("backbones.") and "lora_" not in k}
        assert not (base & stored)  # the frozen base is reloaded from the encoder's source, not stored


def test_a_dropped_modality_still_trains_the_other_encoder(tiny_encoders, corpus):
    from mer.finetune.inputs import open_utterances
    from mer.finetune.pipeline import prepare_inputs, text_inputs_from

    specs = {
        "audio": EncoderSpec("audio", str(tiny_encoders["wav2vec2"]), mode="full"),
        "text": EncoderSpec("text", str(tiny_encoders["bert"]), mode="full"),
    }
    store, _ = open_utterances(corpus, ["audio", "text"], 0.5)
    prepare_inputs(
        store,
        specs,
        text_inputs_from({"max_text_tokens": 32, "include_speaker": False, "context_window": 0}),
        torch.device("cpu"),
    )
    config = {"name": "flexible_at", "hidden_dim": 16, "dropout": 0.0, "gate": "sigmoid", "ffn_mult": 2}
    model = FinetuneModel(["audio", "text"], specs, {}, config, 7)
    batch = store.batch(np.arange(6))
    features = {k: torch.from_numpy(v) for k, v in batch.items() if k != "labels"}
    for dropped, kept in (("audio", "text"), ("text", "audio")):
        model.zero_grad()
        present = torch.tensor([[dropped != "audio", dropped != "text"]] * 6)
        torch.nn.functional.cross_entropy(model(features, present), torch.from_numpy(batch["labels"])).backward()

        def grad_norm(m):
            return sum(float(p.grad.abs().sum()) for p in model.backbones[m].parameters() if p.grad is not None)

        assert grad_norm(kept) > 0 and grad_norm(dropped) == 0


@pytest.mark.slow
def test_two_stages_then_a_corpus_fine_tune_from_the_checkpoint(capsys, caplog, ft, corpus, tiny_encoders, tmp_path):
    common = {
        "data.modalities": "[A,T]",
        "encoders.text.model": tiny_encoders["bert"],
        "encoders.audio.model": tiny_encoders["wav2vec2"],
        "encoders.audio.pooling": "attentive",
        "data.context_window": 2,
        "data.include_speaker": "true",
        "training.modality_dropout": 0.3,
    }
    frozen = {"encoders.text.mode": "frozen", "encoders.audio.mode": "frozen", "training.epochs": 3}
    code, _, err = _train(capsys, ft, corpus, tmp_path, "stage1", **common, **frozen)
    assert code == 0, err
    stage1 = tmp_path / "out" / "stage1" / "seed1" / "checkpoints" / "best.pt"
    stage1_head = {k: v for k, v in load_checkpoint(stage1)["model_state"].items() if k.startswith("head.")}
    assert not any(k.startswith("backbones.") for k in load_checkpoint(stage1)["model_state"])

    stage2 = [
        "experiment.name=stage2", "encoders.text.mode=lora", "encoders.audio.mode=full", "training.epochs=1",
        "training.lr=0", "encoders.text.lr=0", "encoders.audio.lr=0", f"training.init_ckpt={stage1}",
    ]  # fmt: skip
    config = validate(load_config(None, [*ft.sets(corpus, tmp_path / "out", **common), *stage2]))
    with caplog.at_level(logging.INFO, logger="mer.training.trainer"):
        run_experiment(config, quiet=True, finetune=True)
    assert any(
        line.startswith(f"initialised from {stage1}") and "encoder tensors keep their pretrained" in line
        for line in caplog.messages
    )
    stage2 = load_checkpoint(tmp_path / "out" / "stage2" / "seed1" / "checkpoints" / "best.pt")
    changed = [k for k, v in stage1_head.items() if not torch.equal(stage2["model_state"][k], v)]
    assert not changed  # trained at lr 0: still stage 1's head
    assert any("lora_" in k for k in stage2["model_state"])

    code, _, err = _train(
        capsys,
        ft,
        corpus,
        tmp_path,
        "ft",
        **common,
        **{
            "encoders.text.mode": "lora",
            "encoders.audio.mode": "full",
            "training.epochs": 1,
            "training.init_ckpt": tmp_path / "out" / "stage2" / "seed1" / "checkpoints" / "best.pt",
        },
    )
    assert code == 0, err


def test_an_interrupted_fine_tune_resumes_to_the_same_result(ft, corpus, tiny_encoders, tmp_path):
    sets = ft.sets(
        corpus,
        tmp_path,
        **{
            "data.modalities": "[A,T]",
            "encoders.text.model": tiny_encoders["bert"],
            "encoders.audio.model": tiny_encoders["wav2vec2"],
            "encoders.audio.mode": "full",
            "training.epochs": 3,
            "training.modality_dropout": 0.3,
            "training.supcon_weight": 0.2,
            "training.ema_decay": 0.9,
            "training.grad_accum_steps": 2,
        },
    )
    config = validate(load_config(None, ["experiment.name=whole", *sets]))
    run_experiment(config, quiet=True, finetune=True)

    class StopAfterTwo(logging.Handler):  # Ctrl-C right after epoch 2's log line
        def emit(self, record):
            if "epoch   2" in record.getMessage():
                raise KeyboardInterrupt

    config["experiment"]["name"] = "cut"
    trainer_log, stopper = logging.getLogger("mer.training.trainer"), StopAfterTwo()
    trainer_log.addHandler(stopper)
    trainer_log.setLevel(logging.INFO)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_experiment(config, quiet=True, finetune=True)
    finally:
        trainer_log.removeHandler(stopper)
        trainer_log.setLevel(logging.NOTSET)
    run_experiment(config, resume=True, quiet=True, finetune=True)
    whole, cut = (tmp_path / n / "seed1" for n in ("whole", "cut"))

    def strip_seconds(path):
        return [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]

    assert strip_seconds(whole / "metrics_val.csv") == strip_seconds(cut / "metrics_val.csv")
    assert strip_seconds(whole / "metrics_train.csv") == strip_seconds(cut / "metrics_train.csv")
    a = load_checkpoint(whole / "checkpoints/best.pt")["model_state"]
    b = load_checkpoint(cut / "checkpoints/best.pt")["model_state"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bad_requests_end_in_one_clear_line(capsys, ft, corpus, tiny_encoders, tmp_path):
    def fails(*extra, **sets):
        code, _, err = _train(capsys, ft, corpus, tmp_path, *extra, **sets)
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        return err

    err = fails(**{"data.modalities": "[T]", "encoders.text.model": "nobody/no-such-model"})
    assert "'nobody/no-such-model'" in err and "packaged:all-MiniLM-L6-v2" in err
    err = fails(**{"data.modalities": "[A]", "encoders.audio.mode": "full"})
    assert "packaged:whisper-tiny.en is a CTranslate2 Whisper model" in err and "mode=frozen" in err
    err = fails(**{"data.modalities": "[T]", "encoders.text.mode": "finetune"})
    assert "encoders.text.mode: expected one of ['frozen', 'full', 'lora']" in err
    err = fails(**{"encoders.text.pooling_kind": "mean"})
    assert "did you mean encoders.text.pooling" in err
    err = fails(**{"data.modalities": "[T]", "training.amp": "bf16", "training.device": "cpu"})
    assert "training.amp=bf16 runs on CUDA only" in err


def _feature_root(root):
    """A minimal memmap feature root (train, val and testA groups) in the documented format."""
    rng = np.random.default_rng(0)
    for group in ("train", "val", "testA"):
        folder = root / group
        folder.mkdir(parents=True)
        labels = np.arange(14) % 7
        np.save(folder / "text.npy", rng.standard_normal((14, 8)).astype(np.float32))
        np.save(folder / "labels.npy", labels.astype(np.int64))
        meta = [{"id": f"X/{group}{i}", "dataset": "X", "group": group, "speaker_id": "s"} for i in range(14)]
        (folder / "meta.jsonl").write_text("".join(json.dumps(m) + "\n" for m in meta))
        info = {"modalities": ["text"], "dims": {"text": 8}, "dtype": "float32", "n_rows": 14}
        (folder / "info.json").write_text(json.dumps(info))
    return root


def test_checkpoints_of_the_other_kind_are_refused_clearly(capsys, ft, corpus, tiny_encoders, tmp_path):
    features = _feature_root(tmp_path / "features")
    sets = [
        f"data.features_dir={features}",
        f"experiment.output_dir={tmp_path / 'out'}",
        "data.modalities=[T]",
        "training.epochs=1",
        "data.report_groups=[testA]",
        "evaluation.test=false",
    ]
    code, _, err = _run(capsys, train_main, "--run_name", "feat", *QUIET, "--set", *sets)
    assert code == 0, err
    feature_ckpt = tmp_path / "out" / "feat" / "seed1" / "checkpoints" / "best.pt"
    code, _, err = _run(capsys, evaluate_e2e_main, "--ckpt", str(feature_ckpt), "--output_dir", str(tmp_path / "x"))
    assert code == 2 and "(made by train.py on feature vectors); evaluate it with evaluate.py" in err
    code, _, err = _train(
        capsys,
        ft,
        corpus,
        tmp_path,
        "init",
        **{"data.modalities": "[T]", "encoders.text.model": tiny_encoders["bert"], "training.init_ckpt": feature_ckpt},
    )
    assert code == 2 and "a features checkpoint cannot initialise a finetune model" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="mixed precision runs on CUDA only; this machine has none")
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_on_cuda(capsys, ft, corpus, tiny_encoders, tmp_path, amp):
    code, _, err = _train(
        capsys,
        ft,
        corpus,
        tmp_path,
        **{
            "data.modalities": "[T]",
            "training.amp": amp,
            "encoders.text.model": tiny_encoders["bert"],
            "training.device": "cuda",
        },
    )
    assert code == 0, err


def test_frozen_whisper_frames_with_attentive_pooling(capsys, ft, corpus, tmp_path):
    pytest.importorskip("faster_whisper", reason="the packaged Whisper needs faster-whisper (offline extras)")
    code, _, err = _train(
        capsys,
        ft,
        corpus,
        tmp_path,
        **{"data.modalities": "[A]", "encoders.audio.pooling": "attentive", "encoders.audio.attention_heads": 2},
    )
    assert code == 0, err
    best = tmp_path / "out" / "run" / "seed1" / "checkpoints" / "best.pt"
    checkpoint = load_checkpoint(best)
    assert checkpoint["finetune"]["frame_dims"] == {"audio": 384}
    assert checkpoint["dims"] == {"audio": 2 * 2 * 384}  # attentive statistics: mean and std per head
    assert not any(k.startswith("backbones.") for k in checkpoint["model_state"])

    from mer import Predictor

    wav = next((corpus / "audio" / "MELD").glob("test_*.wav"))
    (result,) = Predictor.from_checkpoint(best).predict([wav])
    assert result.ok and result.modalities == ("audio",) and abs(sum(result.probabilities.values()) - 1) < 1e-5


@pytest.mark.slow
def test_two_processes_under_torchrun_fine_tune_like_one(ft, corpus, tiny_encoders, tmp_path, capsys):
    """train_hf_e2e.py under torchrun (2 CPU processes, gloo, DDP over a fully trained wav2vec2 and BERT)."""
    import csv
    import os
    import subprocess
    import sys
    from pathlib import Path

    sets = ft.sets(
        corpus,
        tmp_path / "out",
        **{
            "data.modalities": "[A,T]",
            "encoders.text.model": tiny_encoders["bert"],
            "encoders.audio.model": tiny_encoders["wav2vec2"],
            "encoders.audio.mode": "full",
            "model.dropout": 0.0,
        },
    )
    code, _, err = _run(capsys, train_e2e_main, "--run_name", "one", *QUIET, "--set", *sets)
    assert code == 0, err
    root = Path(__file__).resolve().parents[3]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*launch, str(root / "train_hf_e2e.py"), "--run_name", "two", *QUIET, "--set", *sets],
        capture_output=True, text=True, timeout=600, cwd=root, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    def val_rows(name):
        with open(tmp_path / "out" / name / "seed1" / "metrics_val.csv", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    assert (tmp_path / "out" / "two" / "seed1" / "checkpoints" / "best.pt").is_file()
    for two, one in zip(val_rows("two"), val_rows("one"), strict=True):
        assert float(two["loss"]) == pytest.approx(float(one["loss"]), rel=0.05)
