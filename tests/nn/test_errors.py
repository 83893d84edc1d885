"""Bad input to the stochastic layers and to basisify raises errors that name the value and the fix."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from bgan_lightning.nn import (
    BasisGenerator,
    FilterGeneratorConv2d,
    StochasticBasisConv2d,
    StochasticBasisConvTranspose2d,
    basisify,
)

LAYERS = [
    lambda: StochasticBasisConv2d(3, 4, 3, latent_dim=8, hidden_dim=8),
    lambda: StochasticBasisConvTranspose2d(3, 4, 3, latent_dim=8, hidden_dim=8),
    lambda: FilterGeneratorConv2d(3, 4, 3, latent_dim=8, hidden_dim=8),
]


@pytest.mark.parametrize("make_layer", LAYERS)
def test_wrong_latent_shape(make_layer):
    layer = make_layer()
    name = type(layer).__name__
    expected = (
        f"{name} expects latents of shape (2, 8) or (8,), got (2, 6); pass one row of latent_dim values per sample."
    )

    with pytest.raises(ValueError, match=re.escape(expected)):
        layer(torch.randn(2, 3, 5, 5), torch.randn(2, 6))


@pytest.mark.parametrize("make_layer", LAYERS)
def test_wrong_latent_device(make_layer):
    layer = make_layer()
    name = type(layer).__name__
    expected = f"Latents are on meta but {name} is on cpu; move them with z.to('cpu')."

    with pytest.raises(RuntimeError, match=re.escape(expected)):
        layer(torch.randn(2, 3, 5, 5), torch.randn(2, 8, device="meta"))


@pytest.mark.parametrize("make_layer", LAYERS)
def test_wrong_latent_dtype(make_layer):
    layer = make_layer()
    name = type(layer).__name__
    expected = f"Latents have dtype torch.float64 but {name} has torch.float32; convert them with z.to(torch.float32)."

    with pytest.raises(RuntimeError, match=re.escape(expected)):
        layer(torch.randn(2, 3, 5, 5), torch.randn(2, 8, dtype=torch.float64))


@pytest.mark.parametrize("make_layer", LAYERS)
def test_wrong_input_channels(make_layer):
    layer = make_layer()
    expected = f"{type(layer).__name__} expects input of shape (B, 3, H, W), got (2, 5, 5, 5)."

    with pytest.raises(ValueError, match=re.escape(expected)):
        layer(torch.randn(2, 5, 5, 5))


@pytest.mark.parametrize(
    "layer_class, base",
    [
        (StochasticBasisConv2d, "nn.Conv2d"),
        (StochasticBasisConvTranspose2d, "nn.ConvTranspose2d"),
        (FilterGeneratorConv2d, "nn.Conv2d"),
    ],
)
def test_groups_above_one(layer_class, base):
    expected = f"{layer_class.__name__} supports groups=1 only, got groups=2; keep this layer a plain {base}."

    with pytest.raises(ValueError, match=re.escape(expected)):
        layer_class(4, 4, 3, groups=2)


def test_basis_generator_for_other_kernel_size():
    generator = BasisGenerator(kernel_size=(5, 5), latent_dim=8, hidden_dim=8)
    expected = (
        "StochasticBasisConv2d has kernel_size=(3, 3) but its basis_generator was built for kernel_size=(5, 5); "
        "build the BasisGenerator with kernel_size=(3, 3) or give the layer kernel_size=(5, 5)."
    )

    with pytest.raises(ValueError, match=re.escape(expected)):
        StochasticBasisConv2d(3, 4, 3, latent_dim=8, basis_generator=generator)


def test_basis_generator_for_other_latent_size():
    generator = BasisGenerator(kernel_size=(3, 3), latent_dim=16)
    expected = "StochasticBasisConvTranspose2d has latent_dim=8 but its basis_generator was built for latent_dim=16"

    with pytest.raises(ValueError, match=re.escape(expected)):
        StochasticBasisConvTranspose2d(3, 4, 3, latent_dim=8, basis_generator=generator)


def test_replaced_basis_generator_for_other_kernel_size():
    layer = StochasticBasisConv2d(3, 4, 3, latent_dim=8, hidden_dim=8)
    layer.basis_generator = BasisGenerator(kernel_size=(5, 5), latent_dim=8, hidden_dim=8)
    expected = (
        "StochasticBasisConv2d needs bases of shape (B, 7, 3, 3) but its basis_generator produced (2, 7, 5, 5); "
        "replace it by a BasisGenerator(num_bases=7, kernel_size=(3, 3))."
    )

    with pytest.raises(RuntimeError, match=re.escape(expected)):
        layer(torch.randn(2, 3, 5, 5))


def test_shared_basis_generator_accepted():
    generator = BasisGenerator(kernel_size=(3, 3), latent_dim=8, hidden_dim=8)

    first = StochasticBasisConv2d(3, 4, 3, latent_dim=8, basis_generator=generator)
    second = StochasticBasisConvTranspose2d(4, 3, 3, latent_dim=8, basis_generator=generator)

    assert first.basis_generator is second.basis_generator


def test_pattern_matching_nothing():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
    expected = "Pattern 'blocks.*' matches no convolution in Sequential; convolution names look like: 0, 2."

    with pytest.raises(ValueError, match=re.escape(expected)):
        basisify(model, include=["0", "blocks.*"])


def test_preset_matching_nothing():
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    expected = (
        "preset='resnet_alternate' found no module of class ResnetBlock with two convolutions in Sequential; "
        "select layers with include=[...] name patterns or a predicate instead."
    )

    with pytest.raises(ValueError, match=re.escape(expected)):
        basisify(model, preset="resnet_alternate")


def test_unknown_preset():
    with pytest.raises(
        ValueError, match=re.escape("Invalid preset 'every'; expected one of ('all', 'resnet_alternate').")
    ):
        basisify(nn.Sequential(nn.Conv2d(3, 4, 3)), preset="every")


def test_selection_missing():
    expected = "basisify needs a selection; pass include=['name.pattern*'], predicate=fn(name, module) or preset="

    with pytest.raises(ValueError, match=re.escape(expected)):
        basisify(nn.Sequential(nn.Conv2d(3, 4, 3)))


def test_predicate_selecting_nothing():
    expected = "selects no convolution in Sequential; loosen one of the selectors."

    with pytest.raises(ValueError, match=re.escape(expected)):
        basisify(nn.Sequential(nn.Conv2d(3, 4, 3)), predicate=lambda name, module: False)


def test_bare_convolution_rejected():
    expected = "basisify converts layers inside a model, got a bare Conv2d; build the stochastic layer directly"

    with pytest.raises(ValueError, match=re.escape(expected)):
        basisify(nn.Conv2d(3, 4, 3), preset="all")
