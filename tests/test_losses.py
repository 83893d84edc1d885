from __future__ import annotations

import pytest
import torch

from bgan_lightning.losses import adversarial_loss, diversity_loss, feature_distance, feature_matching_loss


def test_vanilla_loss_is_log2_at_zero_logits():
    prediction = torch.zeros(2, 1, 4, 4)
    assert adversarial_loss(prediction, True, "vanilla").item() == pytest.approx(0.693147, abs=1e-6)


def test_lsgan_loss_for_real_and_fake_targets():
    prediction = torch.full((2, 1, 4, 4), 0.25)
    assert adversarial_loss(prediction, True, "lsgan").item() == pytest.approx(0.5625)
    assert adversarial_loss(prediction, False, "lsgan").item() == pytest.approx(0.0625)


def test_hinge_loss_differs_for_generator_and_discriminator():
    prediction = torch.full((1, 1, 2, 2), 0.5)
    assert adversarial_loss(prediction, True, "hinge").item() == pytest.approx(0.5)
    assert adversarial_loss(prediction, False, "hinge").item() == pytest.approx(1.5)
    assert adversarial_loss(prediction, True, "hinge", for_discriminator=False).item() == pytest.approx(-0.5)


def test_multiscale_output_averages_final_predictions():
    scales = [
        [torch.zeros(1, 4, 8, 8), torch.full((1, 1, 8, 8), 1.0)],
        [torch.zeros(1, 4, 4, 4), torch.zeros(1, 1, 4, 4)],
    ]
    assert adversarial_loss(scales, True, "lsgan").item() == pytest.approx(0.5)


def test_feature_matching_is_zero_for_equal_features_and_skips_predictions():
    real = [[torch.ones(1, 2, 4, 4), torch.zeros(1, 1, 4, 4)]]
    fake = [[torch.ones(1, 2, 4, 4), torch.full((1, 1, 4, 4), 9.0)]]
    assert feature_matching_loss(fake, real).item() == 0.0

    shifted = [[torch.full((1, 2, 4, 4), 2.0), torch.zeros(1, 1, 4, 4)]]
    # One intermediate feature map: weight 4 / 1, L1 distance 1.
    assert feature_matching_loss(shifted, real).item() == pytest.approx(4.0)


def test_feature_matching_needs_intermediate_features():
    with pytest.raises(ValueError, match="needs a discriminator that returns intermediate features"):
        feature_matching_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))


def test_diversity_losses_follow_their_definitions():
    fake_1, fake_2 = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    z_1, z_2 = torch.zeros(2, 8), torch.ones(2, 8)

    assert diversity_loss(fake_1, fake_2, z_1, z_2, "dsgan", tau=1.0).item() == pytest.approx(-0.5, abs=1e-4)
    assert diversity_loss(fake_1, fake_2, z_1, z_2, "dsgan", tau=0.2).item() == pytest.approx(-0.2, abs=1e-6)
    assert diversity_loss(fake_1, fake_2, z_1, z_2, "msgan").item() == pytest.approx(2.0, abs=1e-3)


def test_unknown_modes_raise():
    with pytest.raises(ValueError, match="Invalid gan_mode 'wgan'"):
        adversarial_loss(torch.zeros(1), True, "wgan")
    with pytest.raises(ValueError, match="Invalid diversity mode 'bicycle'"):
        diversity_loss(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1, 1), "bicycle")


def test_feature_distance_per_sample_with_weights():
    # Two scales with two intermediate maps each: weight 4 / 2 per map and 1 / 2 per scale, so 1 per map.
    first = [[torch.zeros(2, 3, 4, 4), torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 2, 2)] for _ in range(2)]
    second = [[torch.zeros(2, 3, 4, 4), torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 2, 2)] for _ in range(2)]
    second[0][0][1] = 2.0
    distance = feature_distance(first, second)
    assert distance.shape == (2,)
    torch.testing.assert_close(distance, torch.tensor([0.0, 2.0]))


def test_feature_distance_needs_intermediate_features():
    with pytest.raises(ValueError, match=r"^A discriminator-feature distance needs a discriminator that returns"):
        feature_distance(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))


def test_diversity_loss_with_given_distance():
    latent_1, latent_2 = torch.zeros(2, 4), torch.ones(2, 4)
    fake = torch.zeros(2, 3, 4, 4)
    loss = diversity_loss(fake, fake, latent_1, latent_2, "dsgan", tau=10.0, output_distance=torch.tensor([1.0, 3.0]))
    assert loss.item() == pytest.approx(-2.0, rel=1e-4)
