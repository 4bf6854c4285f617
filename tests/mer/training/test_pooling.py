import pytest
import torch

from mer.models.pooling import POOLINGS, Pooling


@pytest.mark.parametrize("kind", POOLINGS)
def test_padding_never_changes_the_pooled_vector(kind):
    torch.manual_seed(0)
    pool = Pooling(kind, 8, heads=2).eval()
    a, b = torch.randn(1, 5, 8), torch.randn(1, 3, 8)
    padded = torch.cat([a, torch.cat([b, torch.full((1, 2, 8), 7.0)], 1)])
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    out = pool(padded, mask)
    assert out.shape == (2, pool.out_dim)
    assert torch.allclose(out[0], pool(a)[0], atol=1e-5)
    assert torch.allclose(out[1], pool(b)[0], atol=1e-5)


def test_statistics_are_the_masked_mean_and_std():
    x = torch.tensor([[[1.0], [3.0], [100.0]]])
    out = Pooling("mean_std", 1)(x, torch.tensor([[True, True, False]]))
    assert torch.allclose(out, torch.tensor([[2.0, 1.0]]), atol=1e-4)


def test_a_row_without_frames_pools_to_zero_not_nan():
    out = Pooling("attentive", 4)(torch.randn(1, 3, 4), torch.zeros(1, 3, dtype=torch.bool))
    assert torch.isfinite(out).all()
