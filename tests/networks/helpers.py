"""Checks shared by the network tests."""

from __future__ import annotations

import torch
from torch import nn

from bgan_lightning.nn import latent_control


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def check_forward_backward(generator: nn.Module, x: torch.Tensor, output_nc: int = 3) -> torch.Tensor:
    """Run forward and backward; check the output shape, the range [-1, 1] and that every parameter gets a grad."""
    out = generator(x)
    assert out.shape == (x.shape[0], output_nc, *x.shape[2:])
    assert out.abs().max() <= 1.0
    out.mean().backward()
    missing = [name for name, p in generator.named_parameters() if p.grad is None]
    assert not missing
    return out


def check_sample_contract(generator: nn.Module, x: torch.Tensor, num_samples: int = 3, seed: int = 7) -> torch.Tensor:
    """sample() equals a seeded forward pass on repeated inputs, in one batch and in chunks of 1 and 2 rows."""
    generator.eval()
    with torch.no_grad():
        samples = generator.sample(x, num_samples, seed=seed, chunk_size=x.shape[0] * num_samples)
        chunked = {size: generator.sample(x, num_samples, seed=seed, chunk_size=size) for size in (1, 2)}
        with latent_control(generator, seed=seed):
            reference = generator(x.repeat_interleave(num_samples, 0))
    assert samples.shape == (x.shape[0], num_samples, *reference.shape[1:])
    torch.testing.assert_close(samples, reference.view_as(samples), rtol=1e-5, atol=1e-5)
    for size, chunk_samples in chunked.items():
        torch.testing.assert_close(chunk_samples, samples, rtol=1e-5, atol=1e-5, msg=f"chunk_size={size}")
    return samples
