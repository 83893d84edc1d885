"""basisify: selection, exact initialisation from trained weights, the report, and a training step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bgan_lightning.nn import (
    StochasticBasisConv2d,
    StochasticBasisConvTranspose2d,
    basisify,
    latent_control,
    low_rank_fit,
    stochastic_modules,
)


class ResnetBlock(nn.Module):
    """A residual block named like the package's, so that the "resnet_alternate" preset finds it."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, padding_mode="reflect"),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, padding_mode="reflect"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TinyAutoencoder(nn.Module):
    """A small network the package has never seen: strided encoder, residual blocks, grouped conv, decoder."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 8, 4, stride=2, padding=1, bias=False)
        self.blocks = nn.Sequential(ResnetBlock(8), ResnetBlock(8))
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.up = nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1)
        self.head = nn.Conv2d(8, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.down(F.relu(self.stem(x))))
        x = self.depthwise(self.blocks(x))
        return torch.tanh(self.head(F.relu(self.up(x))))


@pytest.fixture
def net() -> TinyAutoencoder:
    torch.manual_seed(0)
    return TinyAutoencoder()


def small(**kwargs):
    return {"latent_dim": 8, "hidden_dim": 8, **kwargs}


def test_resnet_alternate_second_conv(net):
    report = basisify(net, preset="resnet_alternate", **small())

    assert report.replaced_names == ["blocks.0.body.2", "blocks.1.body.2"]
    assert isinstance(net.blocks[0].body[0], nn.Conv2d)
    assert isinstance(net.blocks[0].body[2], StochasticBasisConv2d)
    assert net.blocks[0].body[2].padding_mode == "reflect"
    assert report.skipped == []


def test_all_preset_names_skipped(net):
    report = basisify(net, preset="all", **small())

    assert "up" in report.replaced_names
    assert isinstance(net.up, StochasticBasisConvTranspose2d)
    assert net.up.output_padding == (1, 1)
    assert net.down.bias is None
    assert [(s.name, s.reason) for s in report.skipped] == [
        ("depthwise", "groups=8 (stochastic convs support groups=1 only)")
    ]
    assert isinstance(net.depthwise, nn.Conv2d)


def test_include_patterns_and_predicate_combine(net):
    report = basisify(
        net, include=["blocks.*", "stem"], predicate=lambda name, module: module.in_channels == 8, **small()
    )

    assert report.replaced_names == ["blocks.0.body.0", "blocks.0.body.2", "blocks.1.body.0", "blocks.1.body.2"]
    assert isinstance(net.stem, nn.Conv2d)


def test_parameter_counts_in_report(net):
    before = sum(p.numel() for p in net.parameters())

    report = basisify(net, include="stem", **small())

    layer = report.replaced[0]
    # 8 * 3 * 7 coefficients + 8 bias + generator (8 * 8 + 8) + (8 * 63 + 63) + mean basis 7 * 9.
    assert layer.params_before == 8 * 3 * 9 + 8
    assert layer.params_after == 8 * 3 * 7 + 8 + 72 + 567 + 63
    assert report.params_before == before
    assert report.params_after == before - layer.params_before + layer.params_after


def test_low_rank_fit_exact_for_full_rank():
    weight = torch.randn(4, 3, 3, 3)

    coefficients, bases, error = low_rank_fit(weight, num_bases=9)
    rebuilt = torch.einsum("oik,khw->oihw", coefficients, bases)

    assert error < 1e-12
    torch.testing.assert_close(rebuilt.float(), weight)


def test_low_rank_fit_error_matches_singular_values():
    weight = torch.randn(6, 5, 3, 3, dtype=torch.float64)
    singular = torch.linalg.svdvals(weight.reshape(30, 9))

    _, _, error = low_rank_fit(weight, num_bases=4)

    expected = (singular[4:].square().sum() / singular.square().sum()).sqrt().item()
    assert error == pytest.approx(expected, rel=1e-9)


def test_init_from_weights_reproduces_original(net):
    x = torch.randn(2, 3, 8, 8)
    expected = net(x)

    report = basisify(net, preset="all", num_bases=16, noise_scale=0.0, **small())
    with torch.no_grad():
        actual = net(x)

    assert max(layer.relative_error for layer in report.replaced) < 1e-6
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


def test_init_from_weights_adds_small_noise(net):
    x = torch.randn(1, 3, 8, 8).expand(2, -1, -1, -1)
    expected = net(x)

    basisify(net, include="blocks.*", noise_scale=0.1, **small())
    with torch.no_grad():
        actual = net(x)

    assert (actual[0] - actual[1]).abs().max() > 1e-5
    assert ((actual - expected).norm() / expected.norm()).item() < 0.3


def test_fresh_initialisation_without_weights(net):
    report = basisify(net, include="stem", init_from_weights=False, **small())

    assert report.replaced[0].relative_error is None
    assert net.stem.basis_generator.mean_basis is None


def test_shared_module_replaced_everywhere():
    shared = nn.Conv2d(3, 3, 3, padding=1)
    model = nn.Sequential(shared, nn.ReLU(), shared)

    report = basisify(model, preset="all", **small())

    assert report.replaced_names == ["0"]
    assert model[0] is model[2]
    assert isinstance(model[2], StochasticBasisConv2d)


def test_report_prints_table(net):
    text = str(basisify(net, preset="all", **small()))

    lines = text.splitlines()
    assert lines[0].startswith("basisify: replaced 8 layer(s), skipped 1; parameters ")
    assert lines[1].split() == ["layer", "from", "to", "params", "before", "params", "after", "fit", "error"]
    assert "depthwise" in lines[-1]
    assert "groups=8" in lines[-1]


def test_training_step_after_conversion(net):
    basisify(net, preset="all", **small())
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    before = [p.detach().clone() for p in net.parameters()]

    loss = F.l1_loss(net(x), x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

    assert torch.isfinite(loss)
    changed = [not torch.equal(a, b.detach()) for a, b in zip(before, net.parameters())]
    assert all(changed)
    with latent_control(net, seed=0):
        first = net(x)
    with latent_control(net, seed=0):
        second = net(x)
    assert torch.equal(first, second)
    assert len(stochastic_modules(net)) == 8
