import pytest
import torch

from bgan_lightning.networks import InpaintingGenerator
from bgan_lightning.nn import stochastic_modules
from tests.networks.helpers import check_forward_backward, check_sample_contract, count_parameters

BASIS = {"num_bases": 3, "latent_dim": 8, "hidden_dim": 8}


def masked_faces(batch: int = 2, size: int = 16) -> torch.Tensor:
    image = torch.rand(batch, 3, size, size) * 2 - 1
    mask = torch.zeros(batch, 1, size, size)
    mask[:, :, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    return torch.cat([image * (1 - mask), mask], dim=1)


@pytest.mark.parametrize(("mode", "expected"), [("off", 0), ("alternate", 3), ("all", 6)])
def test_forward_backward_and_stochastic_layers(mode, expected):
    torch.manual_seed(0)
    generator = InpaintingGenerator(ngf=4, stochastic=mode, **BASIS)
    assert len(stochastic_modules(generator)) == expected
    check_forward_backward(generator, masked_faces())


def test_basisgan_version_has_fewer_parameters():
    assert count_parameters(InpaintingGenerator()) == 5_157_571
    assert count_parameters(InpaintingGenerator(stochastic="alternate")) == 4_789_120


def test_sample_contract_and_composite_keeps_known_pixels():
    torch.manual_seed(0)
    # Instance norm: an untrained batch norm in eval mode shrinks activations so far that samples barely differ.
    generator = InpaintingGenerator(ngf=4, norm="instance", stochastic="alternate", composite=True, **BASIS)
    x = masked_faces()
    samples = check_sample_contract(generator, x, num_samples=3)
    known = x[:, -1:] == 0
    for s in range(3):
        torch.testing.assert_close(samples[:, s][known.expand(-1, 3, -1, -1)], x[:, :3][known.expand(-1, 3, -1, -1)])
    hole = ~known.expand(-1, 3, -1, -1)
    assert (samples[:, 0][hole] - samples[:, 1][hole]).abs().max() > 1e-4


def test_errors():
    with pytest.raises(ValueError, match=r"^InpaintingGenerator expects 4 input channels, got 3; "):
        InpaintingGenerator(ngf=4)(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"^composite=True pastes the 3 image channels of the input into the output"):
        InpaintingGenerator(output_nc=1, composite=True)
