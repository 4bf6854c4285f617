"""Training-time augmentations that keep every sample trainable: modality dropout and feature noise.

Modality dropout removes each modality from a sample with probability p, but never all of
them: a sample that would lose everything keeps one modality drawn at random. The models
take the resulting `present` mask and route around the missing modality, so the remaining
encoders and the fusion still receive gradient from every sample.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def modality_presence(
    batch_size: int, num_modalities: int, p: float, device: torch.device, generator: torch.Generator | None = None
) -> torch.Tensor | None:
    """(B, M) boolean mask of kept modalities, or None when nothing is dropped (p == 0 or one modality)."""
    if p <= 0 or num_modalities < 2:
        return None
    keep = torch.rand(batch_size, num_modalities, generator=generator) >= p
    empty = ~keep.any(dim=1)
    if empty.any():
        rescue = torch.randint(num_modalities, (int(empty.sum()),), generator=generator)
        keep[empty.nonzero(as_tuple=True)[0], rescue] = True
    return keep.to(device)


def add_feature_noise(
    features: Mapping[str, torch.Tensor],
    scale: Mapping[str, torch.Tensor],
    sigma: float,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """x + sigma * std * N(0, 1) per feature, where `scale` is each modality's per-feature std."""
    if sigma <= 0:
        return dict(features)
    noisy = {}
    for m, x in features.items():
        if m not in scale:  # masks, lengths: no noise
            noisy[m] = x
            continue
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        noisy[m] = x + sigma * scale[m] * noise
    return noisy
