import pytest
import torch

from mer.models import FlexibleAT, GatedAVT, GatedFusion, RobustATV, build_model
from mer.training.augment import modality_presence

DIMS = {"audio": 10, "text": 14, "video": 6}


def _features(batch=8, seed=0, names=("audio", "text", "video")):
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(batch, DIMS[m], generator=g) for m in names}


def test_gfl_computes_the_published_formula():
    torch.manual_seed(0)
    gfl = GatedFusion(5, 3, 4)
    f1, f2 = torch.randn(6, 5), torch.randn(6, 3)
    h1 = torch.tanh(f1 @ gfl.proj1.weight.T + gfl.proj1.bias)
    h2 = torch.tanh(f2 @ gfl.proj2.weight.T + gfl.proj2.bias)
    z = torch.sigmoid(torch.cat([f1, f2], 1) @ gfl.gate.weight.T + gfl.gate.bias)
    torch.testing.assert_close(gfl(f1, f2), z * h1 + (1 - z) * h2)
    assert gfl(f1, f2).shape == (6, 4)
    gfl.gate_kind = "softmax"
    z = torch.softmax(torch.cat([f1, f2], 1) @ gfl.gate.weight.T + gfl.gate.bias, dim=-1)
    torch.testing.assert_close(gfl(f1, f2), z * h1 + (1 - z) * h2)


def _influence(gfl, which):
    """Mean change of the output when one input is replaced, relative to the output's scale."""
    torch.manual_seed(1)
    f1, f2 = torch.randn(256, 256), torch.randn(256, 256)
    base = gfl(f1, f2)
    moved = gfl(torch.randn_like(f1), f2) if which == 1 else gfl(f1, torch.randn_like(f2))
    return ((moved - base).abs().mean() / base.abs().mean()).item()


def test_both_modalities_drive_the_sigmoid_gate_but_softmax_nearly_ignores_the_first():
    torch.manual_seed(0)
    sigmoid = GatedFusion(256, 256, 256, gate="sigmoid")
    assert _influence(sigmoid, 1) > 0.3 and _influence(sigmoid, 2) > 0.3
    softmax = GatedFusion(256, 256, 256, gate="softmax")
    softmax.load_state_dict(sigmoid.state_dict())
    # z sums to 1 over 256 units, so h is ~ h2: the reference gate's known weakness
    assert _influence(softmax, 1) < 0.05 < _influence(softmax, 2)


def test_gfl_with_a_missing_modality_uses_only_the_other():
    gfl = GatedFusion(5, 5, 4)
    f1, f2 = torch.randn(3, 5), torch.randn(3, 5)
    p1, p2 = torch.tensor([True, True, False]), torch.tensor([True, False, True])
    out = gfl(f1, f2, p1, p2)
    torch.testing.assert_close(out[0], gfl(f1, f2)[0])
    torch.testing.assert_close(out[1], torch.tanh(gfl.proj1(f1[1])))
    torch.testing.assert_close(out[2], torch.tanh(gfl.proj2(f2[2])))


MODELS = {
    "flexible_at": (("audio", "text"), {}),
    "gated_avt": (("audio", "text", "video"), {}),
    "robust_atv": (("audio", "text", "video"), {}),
    "moe": (("audio", "text", "video"), {}),
    "moe_text_routing": (("audio", "text", "video"), {"name": "moe", "routing": "text"}),
    "lmf": (("audio", "text", "video"), {}),
}
CONFIG = {
    "hidden_dim": 16, "dropout": 0.0, "gate": "sigmoid", "ffn_mult": 2, "num_layers": 2, "num_heads": 4,
    "num_experts": 4, "top_k": 2, "routing": "token", "balance_weight": 0.01, "rank": 4,
}  # fmt: skip


def _model(name, modalities=None):
    torch.manual_seed(0)
    modalities = modalities or MODELS[name][0]
    return build_model({"name": name, **CONFIG, **MODELS[name][1]}, modalities, DIMS, 7).eval()


@pytest.mark.parametrize("name", list(MODELS))
def test_models_give_logits_for_each_sample(name):
    model = _model(name)
    assert model(_features(names=model.modalities)).shape == (8, 7)


@pytest.mark.parametrize("name", list(MODELS))
def test_a_dropped_modality_has_no_effect_on_the_output(name):
    model = _model(name)
    features = _features(names=model.modalities)
    present = torch.ones(8, len(model.modalities), dtype=torch.bool)
    present[:4, 0] = False  # first modality dropped for half the batch
    out = model(features, present)
    features[model.modalities[0]] = torch.randn_like(features[model.modalities[0]]) * 100
    changed = model(features, present)
    torch.testing.assert_close(changed[:4], out[:4])
    assert not torch.allclose(changed[4:], out[4:])


def test_robust_masks_a_dropped_modality_instead_of_feeding_a_zero_token():
    model = _model("robust_atv", ("audio", "text"))
    features = _features(names=("audio", "text"))
    masked = model(features, torch.tensor([[False, True]] * 8))
    text_only = RobustATV(("text",), DIMS, 7, hidden_dim=16, dropout=0.0)
    zero_audio = dict(features, audio=torch.zeros_like(features["audio"]))
    assert not torch.allclose(masked, model(zero_audio))  # a zero token would still be attended to
    assert text_only.modalities == ("text",)


def test_unimodal_flexible_at_builds_no_fusion_or_unused_encoder():
    model = FlexibleAT(("text",), DIMS, 7, hidden_dim=16)
    assert model.fusion is None and set(model.encoders) == {"text"}
    assert not any(k.startswith(("fusion", "encoders.audio")) for k in model.state_dict())
    assert model({"text": torch.randn(3, 14)}).shape == (3, 7)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_encoder_and_projection_gets_gradient_under_modality_dropout(name):
    model = _model(name).train()
    features = _features(batch=32, names=model.modalities)
    present = modality_presence(32, len(model.modalities), 0.5, torch.device("cpu"), torch.Generator().manual_seed(3))
    assert present is not None and (~present).any() and present.any(dim=1).all()
    loss = torch.nn.functional.cross_entropy(model(features, present), torch.randint(0, 7, (32,)))
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, f"no gradient reached {no_grad}"


def test_modality_presence_never_drops_everything():
    present = modality_presence(10_000, 3, 0.9, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert present.any(dim=1).all()
    assert 0.05 < present.float().mean().item() < 0.5
    assert modality_presence(4, 1, 0.9, torch.device("cpu")) is None


def test_gated_avt_refuses_fewer_than_three_modalities():
    with pytest.raises(ValueError, match="needs audio, text and video"):
        GatedAVT(("audio", "text"), DIMS, 7)
