"""The mixture-of-experts and low-rank fusion models: their maths, their routing, their loss hook, and
training through train.py on the demo corpus's real features."""

import json
from pathlib import Path

import pytest
import torch

from mer.commands import train_main
from mer.config import ConfigError, load_config, validate
from mer.models import LowRankFusion, MixtureOfExperts, build_model
from mer.models.layers import auxiliary_loss
from mer.models.moe import balance_loss
from tests.mer.training.conftest import DEMO_TRAINING

REPO = Path(__file__).resolve().parents[3]
DIMS = {"audio": 10, "text": 14, "video": 6}
ALL = ("audio", "text", "video")


def _features(batch=8, seed=0, names=ALL):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(batch, DIMS[m], generator=g) for m in names}


def _moe(modalities=ALL, **kwargs):
    torch.manual_seed(0)
    options = {"hidden_dim": 16, "dropout": 0.0, "num_experts": 4, "top_k": 2} | kwargs
    return MixtureOfExperts(modalities, DIMS, 7, **options).eval()


# -- low-rank fusion ------------------------------------------------------------------------------


@pytest.mark.parametrize("modalities", [("audio", "text"), ALL])
def test_lmf_equals_tensor_fusion_with_the_weight_tensor_its_factors_make(modalities):
    torch.manual_seed(0)
    model = LowRankFusion(modalities, DIMS, 7, hidden_dim=5, rank=3, dropout=0.0)
    encoded = [torch.randn(4, 5) for _ in modalities]
    z = [torch.cat([h, torch.ones(4, 1)], dim=1) for h in encoded]
    # the full tensor W = sum_r w_r  W_1^(r) ⊗ W_2^(r) [⊗ W_3^(r)], applied to the outer product of the z's
    factors = [model.factors[m] for m in modalities]
    w = model.rank_weights[0]
    if len(modalities) == 2:
        full = torch.einsum("r,rio,rjo->ijo", w, *factors)
        expected = torch.einsum("bi,bj,ijo->bo", *z, full)
    else:
        full = torch.einsum("r,rio,rjo,rko->ijko", w, *factors)
        expected = torch.einsum("bi,bj,bk,ijko->bo", *z, full)
    torch.testing.assert_close(model.fuse(encoded), expected + model.bias, rtol=1e-4, atol=1e-5)


def test_lmf_with_a_missing_modality_is_tensor_fusion_of_the_others():
    torch.manual_seed(0)
    model = LowRankFusion(("audio", "text"), DIMS, 7, hidden_dim=5, rank=3, dropout=0.0)
    audio, text = torch.randn(4, 5), torch.randn(4, 5)
    present = torch.tensor([[False, True]] * 4)
    masked = model.fuse([audio, text], present)
    torch.testing.assert_close(masked, model.fuse([torch.zeros_like(audio), text]))
    # z_audio = [0; 1] keeps only the text terms: w_r * (W_a^(r)[last row]) * (z_t W_t^(r)), summed over r
    z_t = torch.cat([text, torch.ones(4, 1)], 1)
    only_text = torch.einsum(
        "r,ro,rbo->bo", model.rank_weights[0], model.factors["audio"][:, -1], (z_t @ model.factors["text"])
    )
    torch.testing.assert_close(masked, only_text + model.bias, rtol=1e-4, atol=1e-5)


# -- mixture of experts ---------------------------------------------------------------------------


def test_balance_loss_is_one_when_spread_evenly_and_num_experts_when_collapsed():
    mask = torch.ones(2, 4, dtype=torch.bool)
    even = torch.full((2, 4, 4), 0.25)
    chosen = torch.eye(4).expand(2, 4, 4)  # every expert takes one token of each sample
    assert balance_loss(even, chosen, mask).item() == pytest.approx(1.0)
    collapsed = torch.zeros(2, 4, 4)
    collapsed[..., 0] = 1.0
    assert balance_loss(collapsed, collapsed, mask).item() == pytest.approx(4.0)
    # absent tokens do not count: only the one token routed to expert 0 is present
    partial = torch.zeros(2, 4, dtype=torch.bool)
    partial[0, 0] = True
    assert balance_loss(even, chosen, partial).item() == pytest.approx(1.0)


def test_each_token_goes_to_top_k_experts_with_weights_summing_to_one():
    model = _moe(top_k=2)
    model(_features())
    weights = model.routing_weights
    assert weights.shape == (8, 3, 4)
    assert ((weights > 0).sum(-1) == 2).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(8, 3))


def test_text_guided_routing_lets_the_transcript_choose_the_experts_of_the_other_modalities():
    features = _features()
    other_text = dict(features, text=torch.randn(8, DIMS["text"]) * 3)
    token = _moe(routing="token")
    token(features)
    before = token.routing_weights[:, 0].clone()  # the audio tokens
    token(other_text)
    torch.testing.assert_close(token.routing_weights[:, 0], before)

    guided = _moe(routing="text")
    with torch.no_grad():
        guided.text_router.weight.normal_(0, 2.0)
    guided(features)
    before = guided.routing_weights[:, 0].clone()
    guided(other_text)
    assert not torch.allclose(guided.routing_weights[:, 0], before)
    # without the transcript the audio token routes on its own content, whatever the text vector holds
    present = torch.tensor([[True, False, True]] * 8)
    guided(features, present)
    alone = guided.routing_weights[:, 0].clone()
    guided(other_text, present)
    torch.testing.assert_close(guided.routing_weights[:, 0], alone)


def test_text_routing_needs_text():
    with pytest.raises(ValueError, match="text-guided routing needs the text modality"):
        _moe(("audio", "video"), routing="text")
    config = load_config(None, ["experiment.name=x", "model.name=moe", "model.routing=text", "data.modalities=[A]"])
    with pytest.raises(ConfigError, match=r"model\.routing text"):
        validate(config)
    config = load_config(None, ["experiment.name=x", "model.name=moe", "model.top_k=5"])
    with pytest.raises(ConfigError, match=r"model.top_k \(5\) must not exceed model.num_experts \(4\)"):
        validate(config)


def test_the_balance_loss_reaches_the_training_loss_through_the_generic_hook():
    model = _moe(balance_weight=0.5).train()
    labels = torch.randint(0, 7, (8,))
    task = torch.nn.functional.cross_entropy(model(_features()), labels)
    aux = auxiliary_loss(model)
    assert aux is model.aux_loss and 0.5 * 1.0 <= aux.item() <= 0.5 * 4.0  # balance in [1, E], times its weight
    (task + aux).backward()
    with_aux = model.router.weight.grad.clone()
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(_features()), labels).backward()
    assert not torch.allclose(model.router.weight.grad, with_aux)  # the balance term moves the router too
    flexible = build_model({"name": "flexible_at", "hidden_dim": 16, "dropout": 0.0, "gate": "sigmoid", "ffn_mult": 2},
                           ("audio", "text"), DIMS, 7)  # fmt: skip
    flexible(_features(names=("audio", "text")))
    assert auxiliary_loss(flexible) == 0.0


def test_the_balance_loss_alone_evens_out_a_collapsed_router():
    model = _moe(top_k=1, balance_weight=1.0).train()
    with torch.no_grad():
        model.router.bias.copy_(torch.tensor([4.0, 0.0, 0.0, 0.0]))  # nearly everything goes to expert 0
    features = _features(batch=64)
    model(features)
    start = model.aux_loss.item()
    optimizer = torch.optim.SGD(model.router.parameters(), lr=0.5)
    for _ in range(100):
        model(features)
        optimizer.zero_grad()
        model.aux_loss.backward()
        optimizer.step()
    model(features)
    assert start > 2.5 and model.aux_loss.item() < 1.3
    assert (model.routing_weights > 0).any(dim=(0, 1)).all()  # every expert is used


# -- training on the demo corpus's features -------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "modalities", "extra"),
    [
        ("moe", "A T", ["model.routing=text", "training.modality_dropout=0.3"]),
        ("moe", "A", []),
        ("lmf", "A T", ["training.modality_dropout=0.3"]),
        ("lmf", "T", []),
    ],
)
def test_moe_and_lmf_learn_the_demo_corpus_through_train_py(demo_features, tmp_path, model, modalities, extra):
    argv = [
        "--config",
        str(REPO / "configs" / "mer_builder_at_simple.yaml"),
        "--run_name",
        "r",
        "--quiet",
        "--modalities",
    ]
    sets = [f"data.features_dir={demo_features}", f"experiment.output_dir={tmp_path}", f"model.name={model}"]
    assert train_main([*argv, *modalities.split(), "--set", *sets, *DEMO_TRAINING, *extra]) == 0
    unit = tmp_path / "r" / "seed1"
    # RAVDESS (testA) transcripts are two fixed sentences: only audio can tell its emotions apart
    groups = ("testA", "testB") if "A" in modalities else ("testB",)
    uar = {g: json.loads((unit / "eval" / g / "metrics_eval.json").read_text())["uar"] for g in groups}
    # seven classes: chance is 0.14. The demo's audio tones and phrases carry the emotion.
    assert min(uar.values()) > 0.4, uar


def test_the_trainer_adds_the_balance_loss_to_the_training_loss(demo_features, tmp_path):
    """The balance term is at least 1.0 times its weight: with weight 1 the recorded training loss is about
    1 higher than with weight 0, so the loop optimised it (the models are otherwise identical)."""
    argv = ["--run_name", "r", "--quiet", "--seeds", "1", "--set", f"data.features_dir={demo_features}"]
    losses = {}
    for weight in (0.0, 1.0):
        out = tmp_path / str(weight)
        sets = [
            f"experiment.output_dir={out}",
            "model.name=moe",
            f"model.balance_weight={weight}",
            "evaluation.test=false",
        ]
        assert train_main([*argv, *sets, *DEMO_TRAINING, "training.epochs=1"]) == 0
        row = (out / "r" / "seed1" / "metrics_train.csv").read_text().splitlines()[1]
        losses[weight] = float(row.split(",")[1])
    assert losses[1.0] - losses[0.0] > 0.9, losses
