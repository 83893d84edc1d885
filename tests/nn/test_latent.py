"""Latent control: per-sample, per-batch, shared and explicit latents, seeding and recording."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bgan_lightning.nn import (
    StochasticBasisConv2d,
    StochasticBasisConvTranspose2d,
    last_latents,
    latent_control,
    stochastic_modules,
)


class TwoLayerNet(nn.Module):
    """A small network with two stochastic layers of different latent sizes and a plain conv."""

    def __init__(self) -> None:
        super().__init__()
        self.first = StochasticBasisConv2d(3, 4, 3, padding=1, latent_dim=6, hidden_dim=8)
        self.middle = nn.Conv2d(4, 4, 1)
        self.second = StochasticBasisConvTranspose2d(4, 3, 4, stride=2, padding=1, latent_dim=10, hidden_dim=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(torch.relu(self.middle(self.first(x))))


@pytest.fixture
def net() -> TwoLayerNet:
    torch.manual_seed(0)
    return TwoLayerNet()


def batch_of_copies(size: int = 3) -> torch.Tensor:
    return torch.randn(1, 3, 6, 6, generator=torch.Generator().manual_seed(1)).expand(size, -1, -1, -1)


def test_stochastic_modules_lists_layers_in_order(net):
    names = [name for name, _ in stochastic_modules(net)]

    assert names == ["first", "second"]


def test_per_sample_default_differs_across_batch(net):
    out = net(batch_of_copies())
    latents = last_latents(net)

    assert (out[0] - out[1]).abs().max() > 1e-4
    assert latents["first"].shape == (3, 6)
    assert latents["second"].shape == (3, 10)
    assert not torch.equal(latents["first"][0], latents["first"][1])


def test_per_batch_policy_repeats_one_latent(net):
    with latent_control(net, seed=0, policy="per_batch"):
        out = net(batch_of_copies())
    latents = last_latents(net)

    assert torch.equal(out[0], out[1])
    assert torch.equal(out[0], out[2])
    assert torch.equal(latents["second"][0], latents["second"][2])


def test_shared_policy_uses_one_latent_for_all_layers(net):
    with latent_control(net, seed=0, shared=True):
        net(batch_of_copies())
        first_pass = last_latents(net)
        net(batch_of_copies())
        second_pass = last_latents(net)

    assert torch.equal(first_pass["first"], first_pass["second"][:, :6])
    assert not torch.equal(first_pass["first"][0], first_pass["first"][1])
    assert not torch.equal(first_pass["second"], second_pass["second"])


def test_explicit_latents_used_by_every_layer(net):
    latents = torch.randn(3, 10)

    with latent_control(net, latents=latents):
        out = net(batch_of_copies())
    recorded = last_latents(net)
    with latent_control(net, latents=latents):
        again = net(batch_of_copies())

    assert torch.equal(recorded["first"], latents[:, :6])
    assert torch.equal(recorded["second"], latents)
    assert torch.equal(out, again)


def test_explicit_latents_too_narrow_rejected(net):
    with (
        latent_control(net, latents=torch.randn(3, 8)),
        pytest.raises(ValueError, match=r"Explicit latents have shape \(3, 8\) but a layer needs \(3, >= 10\)"),
    ):
        net(batch_of_copies())


def test_seed_reproducible_global_rng_untouched(net):
    state = torch.random.get_rng_state()

    with latent_control(net, seed=7):
        first = net(batch_of_copies())
    with latent_control(net, seed=7):
        second = net(batch_of_copies())
    with latent_control(net, seed=8):
        other = net(batch_of_copies())

    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(first, second)
    assert (first - other).abs().max() > 1e-4


def test_control_restored_after_block(net):
    with latent_control(net, seed=0):
        with latent_control(net, seed=1, policy="per_batch") as inner:
            assert net.first.latent_source is inner
        outer_source = net.first.latent_source

    assert outer_source is not None
    assert outer_source.policy == "per_sample"
    assert net.first.latent_source is None
    assert net.second.latent_source is None


def test_invalid_policy_rejected(net):
    with pytest.raises(ValueError, match=r"Invalid latent policy 'per_pixel'"), latent_control(net, policy="per_pixel"):
        pass


def test_latent_control_warns_without_stochastic_layers(caplog):
    with caplog.at_level("WARNING", logger="bgan_lightning.nn.latent"), latent_control(nn.Conv2d(1, 1, 1), seed=0):
        pass

    assert "Conv2d has no stochastic layers, so latent_control has no effect on it." in caplog.text
