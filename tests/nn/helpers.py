"""Helpers shared by the tests of the stochastic convolution layers."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def tiny_layer(layer_class: type[nn.Module], **kwargs) -> nn.Module:
    """Build ``layer_class(3, 5, **kwargs)`` with latent_dim and hidden_dim 8 unless ``kwargs`` sets them."""
    settings = {"latent_dim": 8, "hidden_dim": 8}
    settings.update(kwargs)
    return layer_class(3, 5, **settings)


def assert_per_sample_match(
    out: Tensor, x: Tensor, filters: Tensor, convolve: Callable[[Tensor, Tensor], Tensor]
) -> None:
    """Check that sample ``b`` of ``out`` equals ``convolve(x[b:b + 1], filters[b])`` for every ``b``."""
    for b in range(x.shape[0]):
        expected = convolve(x[b : b + 1], filters[b])
        torch.testing.assert_close(out[b : b + 1], expected, rtol=1e-5, atol=1e-6)


def output_std_ratio(layer: nn.Module, reference: nn.Module, x: Tensor) -> Tensor:
    """Return the standard deviation of ``layer(x)`` divided by that of ``reference(x)``."""
    return layer(x).std() / reference(x).std()
