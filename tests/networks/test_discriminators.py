import pytest
import torch

from bgan_lightning.losses import adversarial_loss, feature_matching_loss
from bgan_lightning.networks import MultiscaleDiscriminator, NLayerDiscriminator
from tests.networks.helpers import count_parameters


def test_patchgan_reference_parameter_count():
    assert count_parameters(NLayerDiscriminator(input_nc=6, ndf=64, n_layers=3, norm="batch")) == 2_768_705


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_patchgan_shape_and_backward(norm, spectral_norm):
    discriminator = NLayerDiscriminator(6, ndf=4, norm=norm, spectral_norm=spectral_norm)
    out = discriminator(torch.randn(2, 6, 32, 32))
    assert out.shape == (2, 1, 2, 2)
    out.mean().backward()
    assert all(p.grad is not None for p in discriminator.parameters())


def test_spectral_norm_bounds_the_largest_singular_value():
    discriminator = NLayerDiscriminator(6, ndf=4, norm="none", spectral_norm=True)
    for _ in range(20):
        discriminator(torch.randn(1, 6, 32, 32))
    weight = discriminator.layers[1][0].weight
    assert torch.linalg.matrix_norm(weight.flatten(1), ord=2).item() == pytest.approx(1.0, abs=0.05)


def test_patchgan_features_use_the_loss_format():
    discriminator = NLayerDiscriminator(6, ndf=4, n_layers=2, return_features=True)
    out = discriminator(torch.randn(1, 6, 32, 32))
    assert len(out) == 1
    assert len(out[0]) == 4
    assert out[0][-1].shape[1] == 1


def test_multiscale_output_and_feature_matching():
    torch.manual_seed(0)
    discriminator = MultiscaleDiscriminator(6, num_D=3, n_layers=2, ndf=4)
    real, fake = torch.randn(2, 6, 32, 32), torch.randn(2, 6, 32, 32)
    real_out, fake_out = discriminator(real), discriminator(fake)
    assert len(fake_out) == 3
    assert [len(scale) for scale in fake_out] == [4, 4, 4]
    assert [scale[-1].shape[-1] for scale in fake_out] == [11, 7, 5]
    loss = adversarial_loss(fake_out, True, "lsgan", for_discriminator=False) + feature_matching_loss(
        fake_out, real_out
    )
    loss.backward()
    assert loss.item() > 0
    predictions = MultiscaleDiscriminator(6, num_D=2, n_layers=2, ndf=4, return_features=False)(real)
    assert [p.shape[1] for p in predictions] == [1, 1]


def test_channel_error():
    message = (
        r"^NLayerDiscriminator expects 6 input channels, got 3; build it with input_nc=3 \(condition plus image "
        r"channels, or image channels alone when ConditionalGAN has discriminator_input='hole'\)\.$"
    )
    with pytest.raises(ValueError, match=message):
        NLayerDiscriminator(6, ndf=4)(torch.randn(1, 3, 32, 32))


def test_multiscale_channel_error_names_itself():
    with pytest.raises(ValueError, match=r"^MultiscaleDiscriminator expects 6 input channels, got 3; "):
        MultiscaleDiscriminator(6, num_D=2, n_layers=2, ndf=4)(torch.randn(1, 3, 32, 32))
