"""basisify on the package's pix2pix generators, each followed by a training step."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bgan_lightning.networks import ResnetGenerator, UnetGenerator
from bgan_lightning.nn import StochasticBasisConv2d, StochasticBasisConvTranspose2d, basisify

BASIS = {"num_bases": 7, "latent_dim": 8, "hidden_dim": 8}


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def training_step(model: nn.Module, size: int) -> None:
    """Run one L1 training step on a batch of two identical inputs and check that every parameter moved."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    condition = torch.rand(1, 3, size, size).expand(2, -1, -1, -1) * 2 - 1
    target = torch.rand(2, 3, size, size) * 2 - 1
    before = [p.detach().clone() for p in model.parameters()]

    fake = model(condition)
    loss = F.l1_loss(fake, target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

    assert torch.isfinite(loss)
    assert (fake[0] - fake[1]).abs().max() > 1e-6
    unchanged = [i for i, (a, b) in enumerate(zip(before, model.parameters())) if torch.equal(a, b.detach())]
    assert unchanged == []


def test_resnet_alternate_matches_built_in():
    torch.manual_seed(0)
    plain = ResnetGenerator(ngf=4, n_blocks=2, **BASIS)
    built_in = ResnetGenerator(ngf=4, n_blocks=2, stochastic="alternate", **BASIS)

    report = basisify(plain, preset="resnet_alternate", init_from_weights=False, **BASIS)

    assert report.replaced_names == ["blocks.0.tail.1", "blocks.1.tail.1"]
    assert report.skipped == []
    assert isinstance(plain.blocks[1].tail[1], StochasticBasisConv2d)
    assert report.params_after == count(built_in)


def test_resnet_converted_trains_and_samples():
    torch.manual_seed(0)
    generator = ResnetGenerator(ngf=4, n_blocks=2, **BASIS)
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        expected = generator(x)

    report = basisify(generator, preset="resnet_alternate", num_bases=9, latent_dim=8, hidden_dim=8, noise_scale=0.0)
    with torch.no_grad():
        actual = generator(x)

    assert max(layer.relative_error for layer in report.replaced) < 1e-6
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)
    # With noise_scale=0 the sampled part starts at zero; give it a spread so that samples differ.
    for block in generator.blocks:
        block.tail[1].basis_generator.mlp[-1].weight.data.normal_(0, 0.1)
    samples = generator.sample(x, num_samples=3, seed=0)
    assert samples.shape == (1, 3, 3, 16, 16)
    assert torch.equal(samples, generator.sample(x, num_samples=3, seed=0))
    training_step(generator, 16)


def test_unet_decoder_converted_trains():
    torch.manual_seed(0)
    generator = UnetGenerator(num_downs=4, ngf=4)
    built_in = UnetGenerator(num_downs=4, ngf=4, stochastic_levels=range(4), **BASIS)

    report = basisify(generator, include="up.*", init_from_weights=False, **BASIS)

    assert report.replaced_names == ["up.0.1", "up.1.1", "up.2.1", "up.3.1"]
    assert all(isinstance(level[1], StochasticBasisConvTranspose2d) for level in generator.up)
    assert report.params_after == count(built_in)
    training_step(generator, 16)


def test_unet_all_convs_train():
    torch.manual_seed(0)
    generator = UnetGenerator(num_downs=4, ngf=4)

    report = basisify(generator, preset="all", **BASIS)

    assert len(report.replaced) == 8
    assert all(0 <= layer.relative_error < 1 for layer in report.replaced)
    training_step(generator, 16)
