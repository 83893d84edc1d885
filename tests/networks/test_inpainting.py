import pytest
import torch

from bgan_lightning.data.inpainting import masked_condition, square_mask
from bgan_lightning.networks import InpaintingGenerator
from bgan_lightning.networks.inpainting import LatentFusion, hole_mask
from bgan_lightning.nn import latent_control, stochastic_modules
from tests.networks.helpers import check_forward_backward, check_sample_contract, count_parameters

BASIS = {"num_bases": 3, "latent_dim": 8, "hidden_dim": 8}
TINY = {"ngf": 4, "n_downsampling": 2, "n_blocks": 2}


def masked_faces(batch: int = 2, size: int = 16) -> torch.Tensor:
    """Conditions as InpaintingDataModule builds them: the mask channel is 1 inside the hole, -1 outside."""
    mask = square_mask(size, size // 2, size // 4, size // 4)
    return torch.stack([masked_condition(torch.rand(3, size, size) * 2 - 1, mask) for _ in range(batch)])


@pytest.mark.parametrize(
    ("mode", "noise_dim", "expected"), [("off", 0, 0), ("off", 6, 1), ("alternate", 0, 2), ("all", 0, 4)]
)
def test_forward_backward_stochastic_layers(mode, noise_dim, expected):
    torch.manual_seed(0)
    generator = InpaintingGenerator(stochastic=mode, noise_dim=noise_dim, composite=False, **TINY, **BASIS)
    assert len(stochastic_modules(generator)) == expected
    check_forward_backward(generator, masked_faces())


def test_parameter_counts_of_dsgan_network():
    # Per-layer sums for 3 -> 64 -> 128 -> 256 -> 512 channels, nine 512-channel blocks and 3 outputs, convs with
    # bias: stem 9,472; downsampling 1,549,184; blocks 42,476,544; upsampling 1,548,736; output 9,411.
    plain = 9_472 + 1_549_184 + 42_476_544 + 1_548_736 + 9_411
    assert count_parameters(InpaintingGenerator()) == plain == 45_593_347
    # DSGAN adds the fusion conv (512 + 32 -> 512, 3x3): 2,507,264.
    assert count_parameters(InpaintingGenerator(noise_dim=32)) == plain + 2_507_264 == 48_100_611
    # BasisGAN: each block's second conv (2,359,808) becomes 512 x 512 x 7 coefficients, a bias and a basis
    # generator 64 -> 64 -> 63 (8,255): 1,843,775.
    basisgan = plain - 9 * 2_359_808 + 9 * 1_843_775
    assert count_parameters(InpaintingGenerator(stochastic="alternate")) == basisgan == 40_949_050


def test_sample_contract_and_output_gate():
    torch.manual_seed(0)
    generator = InpaintingGenerator(stochastic="alternate", **TINY, **BASIS)
    x = masked_faces()
    samples = check_sample_contract(generator, x, num_samples=3)

    assert samples.abs().max() <= 1
    known = (x[:, -1:] < 0).expand(-1, 3, -1, -1)
    for s in range(3):
        torch.testing.assert_close(samples[:, s][known], x[:, :3][known])
    assert (samples[:, 0][~known] - samples[:, 1][~known]).abs().max() > 1e-4


@pytest.mark.parametrize("outside", [-1.0, 0.0])
def test_hole_mask_encodings(outside):
    condition = torch.full((1, 4, 2, 2), outside)
    condition[:, -1, 0, 0] = 1.0
    expected = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    torch.testing.assert_close(hole_mask(condition), expected, rtol=0, atol=0)


def test_noise_fusion_is_seeded_and_sample_contract():
    torch.manual_seed(0)
    generator = InpaintingGenerator(noise_dim=6, **TINY)
    x = masked_faces()
    samples = check_sample_contract(generator, x, num_samples=2)
    assert (samples[:, 0] - samples[:, 1]).abs().max() > 1e-4

    with latent_control(generator, seed=3), torch.no_grad():
        first = generator(x)
    with latent_control(generator, seed=3), torch.no_grad():
        second = generator(x)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_network_sees_image_channels_only():
    torch.manual_seed(0)
    generator = InpaintingGenerator(composite=False, **TINY).eval()
    x = masked_faces()
    moved_mask = x.clone()
    moved_mask[:, -1] = 0
    with torch.no_grad():
        torch.testing.assert_close(generator(x), generator(moved_mask), rtol=0, atol=0)


def test_latent_fusion_shape_and_latent_size():
    fusion = LatentFusion(channels=5, latent_dim=3)
    out = fusion(torch.randn(2, 5, 4, 4))
    assert out.shape == (2, 5, 4, 4)
    assert fusion.last_latent.shape == (2, 3)


def test_errors():
    with pytest.raises(ValueError, match=r"^InpaintingGenerator expects 4 input channels, got 3; "):
        InpaintingGenerator(**TINY)(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"^InpaintingGenerator needs height and width divisible by 8, got height 12"):
        InpaintingGenerator()(torch.randn(1, 4, 12, 16))
    with pytest.raises(ValueError, match=r"^composite=True pastes the 3 image channels of the input into the output"):
        InpaintingGenerator(output_nc=1, composite=True)
    with pytest.raises(
        ValueError, match=r"^input_nc counts the image channels plus the mask, so it must be >= 2, got 1\.$"
    ):
        InpaintingGenerator(input_nc=1, composite=False)
    with pytest.raises(ValueError, match=r"^noise_dim must be >= 0 \(0 for no noise input\), got -1\.$"):
        InpaintingGenerator(noise_dim=-1)
