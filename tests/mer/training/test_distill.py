"""Cross-modal distillation (`training.distill`): the loss, the config checks, training on the demo corpus's
features through train.py, and prediction from audio alone through the distilled audio head.

The training scenario is the one distillation is for: the run's own labels are poor (half of the demo's
training labels redrawn at random), and a teacher trained on clean labels (an A+T model on the demo) knows
better. The audio head then learns to agree with the teacher, which labels alone do not teach it.
"""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mer import Predictor
from mer.commands import evaluate_main, train_main
from mer.config import ConfigError, load_config, validate
from mer.models import build_model
from mer.prediction import PredictionError
from mer.prediction.cli import predict_main
from mer.results import collect, markdown_table
from mer.training.checkpoint import load_checkpoint, make_checkpoint, model_from_checkpoint, save_checkpoint
from mer.training.losses import Distillation, soft_target_kl
from mer_builder.labels import EMOTIONS
from tests.mer.training.conftest import DEMO_TRAINING

REPO = Path(__file__).resolve().parents[3]
TRAIN_SETS = [*DEMO_TRAINING, "evaluation.test=false"]


def _train(features: Path, out: Path, name: str, *sets: str, seed: int = 1) -> Path:
    argv = ["--config", str(REPO / "configs" / "mer_builder_at_simple.yaml"), "--run_name", name, "--quiet"]
    common = [f"data.features_dir={features}", f"experiment.output_dir={out}", f"experiment.seeds=[{seed}]"]
    assert train_main([*argv, "--set", *common, *TRAIN_SETS, *sets]) == 0
    return out / name / f"seed{seed}"


def _val_rows(unit: Path) -> list[dict]:
    with (unit / "metrics_val.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


# -- the loss --------------------------------------------------------------------------------------


def test_the_soft_term_is_zero_at_the_teacher_and_never_moves_it():
    teacher = torch.randn(6, 7, requires_grad=True)
    assert soft_target_kl(teacher.detach().clone(), teacher, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.randn(6, 7, requires_grad=True)
    soft_target_kl(student, teacher, 2.0).backward()
    assert teacher.grad is None and student.grad is not None and student.grad.abs().sum() > 0


def test_a_student_loss_mixes_labels_and_teacher_by_the_weight():
    torch.manual_seed(0)
    heads = {"audio": torch.randn(8, 7), "text": torch.randn(8, 7)}
    labels = torch.randint(0, 7, (8,))
    ce = torch.nn.CrossEntropyLoss()

    def loss(weight: float, temperature: float = 2.0) -> float:
        config = {"teacher": "text", "students": ["A"], "temperature": temperature, "weight": weight}
        return Distillation(config, ce)(heads, labels).item()

    teacher_ce, student_ce = ce(heads["text"], labels).item(), ce(heads["audio"], labels).item()
    soft = soft_target_kl(heads["audio"], heads["text"], 2.0).item()
    assert loss(0.0) == pytest.approx(teacher_ce + student_ce, rel=1e-5)  # weight 0: labels only
    assert loss(1.0) == pytest.approx(teacher_ce + soft, rel=1e-5)  # weight 1: the teacher only
    assert loss(0.25) == pytest.approx(teacher_ce + 0.75 * student_ce + 0.25 * soft, rel=1e-5)
    # T^2 keeps the soft term on the scale of the hard one: at T=4 it is 16 x the KL of the T=4 softmaxes
    p = torch.log_softmax(heads["text"] / 4, -1)
    q = torch.log_softmax(heads["audio"] / 4, -1)
    kl = (p.exp() * (p - q)).sum(-1).mean().item()
    assert soft_target_kl(heads["audio"], heads["text"], 4.0).item() == pytest.approx(16 * kl, rel=1e-4)


# -- the config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["training.distill.teacher=text", "training.distill.students=[X]"],
         r"training\.distill\.students: expected distinct letters from \['A', 'T', 'V'\]"),
        (["training.distill.teacher=text", "training.distill.students=[V]"],
         r"training\.distill\.students: \['V'\] not in data\.modalities \['A', 'T'\]"),
        (["training.distill.teacher=text", "training.distill.students=[A, T]"],
         r"training\.distill: text is both the teacher and a student"),
        (["training.distill.teacher=video"], r"training\.distill\.teacher: video is not in data\.modalities"),
        (["training.distill.teacher=speech"], r"training\.distill\.teacher: expected one of \['audio', 'text'"),
        (["training.distill.teacher=text", "training.distill.temperature=0"],
         r"training\.distill\.temperature: expected a value > 0\.0, got 0"),
        (["training.distill.teacher=text", "training.distill.weight=1.5"],
         r"training\.distill\.weight: expected a value <= 1\.0"),
        (["training.distill.teacher=ckpt:/no/such/best.pt"],
         r"training\.distill\.teacher: ckpt:/no/such/best\.pt: checkpoint file not found"),
    ],
)  # fmt: skip
def test_a_bad_distill_setting_is_one_line_naming_the_key(sets, message, capsys, tmp_path):
    with pytest.raises(ConfigError, match=message) as err:
        validate(load_config(None, ["experiment.name=x", *sets]))
    assert "\n" not in str(err.value)
    where = [f"data.features_dir={tmp_path}", f"experiment.output_dir={tmp_path}"]
    assert train_main(["--run_name", "x", "--set", *where, *sets]) == 2  # the command: one error line, exit 2
    err_lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err_lines) == 1 and err_lines[0].startswith("error: training.distill")


def test_a_modality_teacher_is_normalised_and_off_by_default():
    assert validate(load_config(None, ["experiment.name=x"]))["training"]["distill"]["teacher"] is None
    checked = validate(load_config(None, ["experiment.name=x", "training.distill.teacher=T"]))
    assert checked["training"]["distill"]["teacher"] == "text"


# -- training on the demo corpus -------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(demo_features, tmp_path_factory):
    """The clean A+T teacher, and A+T students on noisy labels with distillation (weight 0.5) and without
    (weight 0: the same heads, labels only)."""
    root = tmp_path_factory.mktemp("distill")
    noisy = root / "noisy"
    shutil.copytree(demo_features, noisy)
    labels = np.load(noisy / "train" / "labels.npy")
    rng = np.random.default_rng(0)
    redrawn = rng.choice(len(labels), len(labels) // 2, replace=False)
    labels[redrawn] = rng.integers(0, len(EMOTIONS), len(redrawn))
    np.save(noisy / "train" / "labels.npy", labels)

    teacher = _train(demo_features, root, "teacher", "training.modality_dropout=0.3") / "checkpoints" / "best.pt"
    units = {"teacher": teacher.parent.parent, "features": demo_features}
    for weight in (0.0, 0.5):
        sets = [f"training.distill.teacher=ckpt:{teacher}", f"training.distill.weight={weight}"]
        units[weight] = _train(noisy, root, f"student_w{weight}", *sets)
    return units


def test_the_audio_head_learns_to_agree_with_the_teacher(runs):
    distilled, plain = _val_rows(runs[0.5]), _val_rows(runs[0.0])
    agreement = [float(r["head_audio_agreement"]) for r in distilled]
    without = [float(r["head_audio_agreement"]) for r in plain]
    assert float(distilled[-1]["teacher_uar"]) > 0.9  # the teacher, trained on clean labels, knows the demo
    # val has 24 rows: a rise of 0.15 is 4 more rows agreeing, and the weight-0 run ends well below
    assert agreement[-1] - agreement[0] > 0.15, agreement
    assert agreement[-1] > without[-1] + 0.15, (agreement, without)
    assert float(distilled[-1]["head_audio_uar"]) > float(plain[-1]["head_audio_uar"]) + 0.1
    checkpoint = load_checkpoint(runs[0.5] / "checkpoints" / "best.pt")
    assert checkpoint["branch_heads"] == ["audio"] and checkpoint["distill"]["weight"] == 0.5
    assert 0 <= checkpoint["val_metrics"]["head_audio_agreement"] <= 1


def test_evaluation_and_results_tables_report_the_heads(runs, tmp_path):
    """evaluate.py scores the audio head alone and its agreement with the checkpoint teacher (reloaded from the
    path training recorded); `mer results` shows it as an `A head` row with a teacher agreement column."""
    ckpt = runs[0.5] / "checkpoints" / "best.pt"
    for group in ("testA", "testB"):
        out = tmp_path / "eval" / group
        sets = ["--set", f"data.eval_dir={runs['features'] / group}"]
        assert evaluate_main(["--ckpt", str(ckpt), *sets, "--output_dir", str(out), "--name", group, "--quiet"]) == 0
        metrics = json.loads((out / "metrics_eval.json").read_text())
        head = metrics["branch_heads"]["audio"]
        assert head["n"] == metrics["n"] and 0 <= head["uar"] <= 1 and 0 <= head["agreement"] <= 1
    rows = {(r.eval_set, r.modalities): r for r in collect(tmp_path / "eval")}
    assert set(rows) == {(g, m) for g in ("testA", "testB") for m in ("A+T", "A head")}
    assert "agreement" in rows["testA", "A head"].summary and "agreement" not in rows["testA", "A+T"].summary
    table = markdown_table(list(rows.values()))
    assert "teacher agreement" in table.splitlines()[0] and "| A head |" in table


def test_a_text_teacher_is_the_runs_own_text_head(demo_features, tmp_path):
    unit = _train(demo_features, tmp_path, "text", "training.distill.teacher=text", "training.epochs=2")
    header = (unit / "metrics_val.csv").read_text().splitlines()[0].split(",")
    assert [c for c in header if c.startswith("head_")] == [
        "head_audio_acc", "head_audio_uar", "head_audio_agreement", "head_text_acc", "head_text_uar",
    ]  # fmt: skip
    checkpoint = load_checkpoint(unit / "checkpoints" / "best.pt")
    assert checkpoint["branch_heads"] == ["audio", "text"] and checkpoint["distill"]["teacher"] == "text"
    model = model_from_checkpoint(checkpoint)
    assert set(model.branch_heads) == {"audio", "text"}


def test_every_model_has_branch_heads_from_the_base_class():
    dims = {"audio": 10, "text": 14, "video": 6}
    base = {"hidden_dim": 16, "dropout": 0.0, "gate": "sigmoid", "ffn_mult": 2, "num_layers": 1, "num_heads": 2,
            "num_experts": 2, "top_k": 1, "routing": "token", "balance_weight": 0.0, "rank": 2}  # fmt: skip
    features = {m: torch.randn(3, d) for m, d in dims.items()}
    models = [("flexible_at", ("audio", "text")), ("gated_avt", ("audio", "text", "video")),
              ("robust_atv", ("audio", "text")), ("moe", ("audio", "video")), ("lmf", ("audio", "text"))]  # fmt: skip
    for name, modalities in models:
        model = build_model({**base, "name": name}, modalities, dims, 7).eval()
        model(features)
        assert model.branch_logits == {} and model.head_modalities == ()
        model.add_branch_heads(["audio"], 7)
        fused = model(features)
        assert fused.shape == model.branch_logits["audio"].shape == (3, 7)
        alone = model.branch_heads["audio"](model.encoders["audio"](features["audio"]))
        torch.testing.assert_close(model.branch_logits["audio"], alone)


# -- prediction from audio alone -------------------------------------------------------------------


def _test_wav(features: Path) -> tuple[Path, dict]:
    processed = features.parent / "processed"
    records = [json.loads(line) for line in (processed / "meta_manifest.jsonl").read_text().splitlines()]
    record = next(r for r in records if r["group"] == "testA")
    return processed / record["audio_path"], record


def test_audio_alone_is_predicted_by_the_distilled_audio_head(runs, tmp_path, capsys):
    wav, record = _test_wav(runs["features"])
    path = runs[0.5] / "checkpoints" / "best.pt"
    predictor = Predictor.from_checkpoint(path, device="cpu")
    assert predictor.can_skip_text  # trained without modality dropout, yet audio alone has its head
    (alone,) = predictor.predict([wav], transcribe="never")
    assert alone.ok and alone.head == "audio" and alone.modalities == ("audio",)
    assert any("distilled audio head" in note for note in alone.notes)
    model = model_from_checkpoint(load_checkpoint(path))
    vector = torch.from_numpy(predictor.pipeline.audio_features([predictor.pipeline.load_waveform(wav)]))
    expected = torch.softmax(model.branch_heads["audio"](model.encoders["audio"](vector)), -1)[0].detach().numpy()
    np.testing.assert_allclose(list(alone.probabilities.values()), expected, atol=1e-5)
    (both,) = predictor.predict([wav], texts=[record["text"]])
    assert both.head is None and both.modalities == ("audio", "text") and "head" not in both.to_dict()

    out = tmp_path / "preds.csv"
    assert predict_main(["--ckpt", str(path), str(wav), "--output", str(out), "--transcribe", "never", "--quiet"]) == 0
    with out.open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["head"] == "audio" and row["modalities"] == "audio"


def test_a_checkpoint_without_distillation_predicts_as_before(runs, tmp_path):
    wav, _ = _test_wav(runs["features"])
    path = runs["teacher"] / "checkpoints" / "best.pt"
    checkpoint = load_checkpoint(path)
    assert "branch_heads" not in checkpoint and "distill" not in checkpoint
    (result,) = Predictor.from_checkpoint(path, device="cpu").predict([wav], transcribe="never")
    assert result.ok and result.head is None and "head" not in result.to_dict()  # fused, text masked out
    # an older checkpoint (no distill keys, no text without modality dropout) still refuses audio alone
    config = dict(checkpoint["config"], training=dict(checkpoint["config"]["training"], modality_dropout=0.0))
    old = tmp_path / "old.pt"
    model = model_from_checkpoint(checkpoint)
    save_checkpoint(
        old, make_checkpoint(model, config, checkpoint["dims"], checkpoint["labels"], checkpoint["feature_config"])
    )
    with pytest.raises(PredictionError, match="needs text"):
        Predictor.from_checkpoint(old, device="cpu").predict([wav], transcribe="never")
