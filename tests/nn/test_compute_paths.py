"""The grouped and decomposed compute paths of StochasticBasisConv2d agree, and "auto" measures once per shape."""

from __future__ import annotations

import pytest
import torch

from bgan_lightning.nn import StochasticBasisConv2d, latent_control
from bgan_lightning.nn.compute_path import clear_compute_choices, compute_choices

# (kernel_size, stride, padding, dilation, padding_mode, height, width)
CASES = [
    (3, 1, 1, 1, "zeros", 8, 8),
    (3, 2, 1, 1, "reflect", 9, 7),
    (5, 1, 2, 1, "replicate", 7, 11),
    (3, 1, 2, 2, "circular", 9, 9),
    ((3, 5), (2, 1), (1, 2), (1, 2), "zeros", 10, 13),
    (1, 1, 0, 1, "zeros", 5, 6),
    (4, 3, 0, 1, "zeros", 11, 10),
]


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual.float() - expected.float()).norm() / expected.float().norm()).item()


def paired_layers(**options) -> tuple[StochasticBasisConv2d, StochasticBasisConv2d]:
    torch.manual_seed(0)
    grouped = StochasticBasisConv2d(5, 6, latent_dim=8, hidden_dim=8, compute="grouped", **options)
    decomposed = StochasticBasisConv2d(5, 6, latent_dim=8, hidden_dim=8, compute="decomposed", **options)
    decomposed.load_state_dict(grouped.state_dict())
    return grouped, decomposed


@pytest.mark.parametrize("kernel_size, stride, padding, dilation, padding_mode, height, width", CASES)
@pytest.mark.parametrize("batch_size", [1, 2, 5, 8])
def test_paths_agree_float32(kernel_size, stride, padding, dilation, padding_mode, height, width, batch_size):
    grouped, decomposed = paired_layers(
        kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation, padding_mode=padding_mode
    )
    x = torch.randn(batch_size, 5, height, width)
    z = torch.randn(batch_size, 8)

    expected = grouped(x, z)
    actual = decomposed(x, z)

    assert actual.shape == expected.shape
    assert relative_error(actual, expected) < 1e-5


@pytest.mark.parametrize("policy", ["per_sample", "per_batch"])
def test_paths_agree_under_latent_policy(policy):
    grouped, decomposed = paired_layers(kernel_size=3, padding=1)
    x = torch.randn(4, 5, 7, 7)

    with latent_control(grouped, seed=1, policy=policy):
        expected = grouped(x)
    with latent_control(decomposed, seed=1, policy=policy):
        actual = decomposed(x)

    assert relative_error(actual, expected) < 1e-5


@pytest.mark.parametrize("kernel_size, stride, padding, dilation, padding_mode, height, width", CASES[:4])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_paths_agree_bf16_autocast(kernel_size, stride, padding, dilation, padding_mode, height, width, batch_size):
    grouped, decomposed = paired_layers(
        kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation, padding_mode=padding_mode
    )
    x = torch.randn(batch_size, 5, height, width)
    z = torch.randn(batch_size, 8)

    exact = grouped(x, z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = grouped(x, z)
        actual = decomposed(x, z)

    assert actual.dtype == torch.bfloat16
    assert relative_error(actual, expected) < 3e-2
    assert relative_error(actual, exact) < 3e-2


def test_paths_agree_on_gradients():
    grouped, decomposed = paired_layers(kernel_size=3, stride=2, padding=1, padding_mode="reflect")
    x = torch.randn(3, 5, 9, 9)
    z = torch.randn(3, 8)

    grouped(x, z).square().sum().backward()
    decomposed(x, z).square().sum().backward()

    assert relative_error(decomposed.coefficients.grad, grouped.coefficients.grad) < 1e-5
    generator_grads = zip(decomposed.basis_generator.parameters(), grouped.basis_generator.parameters())
    for actual, expected in generator_grads:
        assert relative_error(actual.grad, expected.grad) < 1e-5


def test_auto_measures_once_per_shape():
    clear_compute_choices()
    torch.manual_seed(0)
    layer = StochasticBasisConv2d(5, 6, 3, padding=1, latent_dim=8, hidden_dim=8)
    x = torch.randn(2, 5, 8, 8)
    state = torch.random.get_rng_state()

    with latent_control(layer, seed=0):
        layer(x)
    first_choice = layer.last_compute
    with latent_control(layer, seed=0):
        layer(x)

    assert torch.equal(torch.random.get_rng_state(), state)
    assert first_choice in ("grouped", "decomposed")
    assert layer.last_compute == first_choice
    assert len(compute_choices()) == 1
    layer(torch.randn(3, 5, 8, 8))
    assert len(compute_choices()) == 2


def test_auto_grouped_in_deterministic_mode():
    clear_compute_choices()
    layer = StochasticBasisConv2d(5, 6, 3, padding=1, latent_dim=8, hidden_dim=8)
    enabled = torch.are_deterministic_algorithms_enabled()

    torch.use_deterministic_algorithms(True)
    try:
        layer(torch.randn(2, 5, 8, 8))
    finally:
        torch.use_deterministic_algorithms(enabled)

    assert layer.last_compute == "grouped"
    assert compute_choices() == {}


def test_forced_path_is_taken():
    grouped, decomposed = paired_layers(kernel_size=3, padding=1)
    x = torch.randn(2, 5, 6, 6)

    grouped(x)
    decomposed(x)

    assert grouped.last_compute == "grouped"
    assert decomposed.last_compute == "decomposed"


def test_invalid_compute_rejected():
    expected = r"Invalid compute='fast'; expected one of \('auto', 'grouped', 'decomposed'\)"
    with pytest.raises(ValueError, match=expected):
        StochasticBasisConv2d(3, 3, 3, compute="fast")
