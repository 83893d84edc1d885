"""Losses of the underlying conditional GANs: adversarial (vanilla, lsgan, hinge) and feature matching.

BasisGAN trains with exactly the losses of the network it modifies and adds no diversity term: pix2pix
(Isola et al., CVPR 2017) uses a vanilla GAN loss plus 100 x L1; pix2pixHD (Wang et al., CVPR 2018) uses
LSGAN plus 10 x discriminator feature matching plus 10 x VGG perceptual loss.

Discriminator outputs may be a single prediction tensor, or, for multiscale discriminators, a list with one
entry per scale where each entry is a list of intermediate feature maps whose last element is the prediction.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

GanMode = Literal["vanilla", "lsgan", "hinge"]
GAN_MODES = ("vanilla", "lsgan", "hinge")

DiscriminatorOutput = Tensor | list[Tensor] | list[list[Tensor]]


def _predictions(output: DiscriminatorOutput) -> list[Tensor]:
    """Return the final prediction of each discriminator scale."""
    if isinstance(output, Tensor):
        return [output]
    return [scale[-1] if isinstance(scale, (list, tuple)) else scale for scale in output]


def adversarial_loss(
    output: DiscriminatorOutput, target_is_real: bool, gan_mode: GanMode, for_discriminator: bool = True
) -> Tensor:
    """Adversarial loss averaged over discriminator scales.

    Args:
        output: Discriminator output (a tensor, or one entry per scale as described in the module docstring).
        target_is_real: Whether the images that produced ``output`` should be judged real.
        gan_mode: ``"vanilla"`` (binary cross-entropy on logits), ``"lsgan"`` (least squares) or ``"hinge"``.
        for_discriminator: Only used by hinge: the discriminator's hinge differs from the generator's.

    Returns:
        Scalar loss.
    """
    if gan_mode not in GAN_MODES:
        raise ValueError(f"Invalid gan_mode {gan_mode!r}; expected one of {GAN_MODES}.")
    losses = []
    for prediction in _predictions(output):
        if gan_mode == "vanilla":
            target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
            losses.append(F.binary_cross_entropy_with_logits(prediction, target))
        elif gan_mode == "lsgan":
            target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
            losses.append(F.mse_loss(prediction, target))
        elif for_discriminator:
            sign = -1.0 if target_is_real else 1.0
            losses.append(F.relu(1.0 + sign * prediction).mean())
        else:
            losses.append(-prediction.mean())
    return torch.stack(losses).mean()


def feature_matching_loss(fake_output: DiscriminatorOutput, real_output: DiscriminatorOutput) -> Tensor:
    """pix2pixHD feature matching: L1 between discriminator features of fake and real images.

    Every intermediate feature map except the final prediction contributes, averaged over scales, as in
    Wang et al. (CVPR 2018), equation 4 (their weights 4 / (n_layers + 1) per layer and 1 / num_D per scale).

    Args:
        fake_output: Multiscale discriminator output on generated images (list of lists of features).
        real_output: The same on real images; detached here, so no gradient reaches the discriminator.

    Returns:
        Scalar loss.

    Raises:
        ValueError: If the outputs carry no intermediate features.
    """
    if isinstance(fake_output, Tensor) or not all(isinstance(scale, (list, tuple)) for scale in fake_output):
        raise ValueError(
            "Feature matching needs a discriminator that returns intermediate features, such as "
            "MultiscaleDiscriminator(return_features=True); set lambda_feat=0 otherwise."
        )
    num_scales = len(fake_output)
    loss = fake_output[0][0].new_zeros(())
    for fake_scale, real_scale in zip(fake_output, real_output):
        num_features = len(fake_scale) - 1
        if num_features < 1:
            raise ValueError("Feature matching needs at least one intermediate feature map per scale.")
        layer_weight = 4.0 / num_features
        for fake_feature, real_feature in zip(fake_scale[:-1], real_scale[:-1]):
            loss = loss + layer_weight / num_scales * F.l1_loss(fake_feature, real_feature.detach())
    return loss


DiversityMode = Literal["msgan", "dsgan"]
DIVERSITY_MODES = ("msgan", "dsgan")


def diversity_loss(
    fake_1: Tensor,
    fake_2: Tensor,
    latent_1: Tensor,
    latent_2: Tensor,
    mode: DiversityMode,
    tau: float = 1.0,
    eps: float = 1e-5,
) -> Tensor:
    """Latent-distance diversity regularizers, to be added to the generator loss with a positive weight.

    Both compare the distance between two outputs for the same condition with the distance between the latents
    that produced them, per sample ``r = mean|fake_1 - fake_2| / mean|latent_1 - latent_2|``:

    - ``"msgan"`` (mode seeking, Mao et al., CVPR 2019): ``1 / (mean(r) + eps)``.
    - ``"dsgan"`` (diversity-sensitive, Yang et al., ICLR 2019): ``-mean(min(r, tau))``.

    Args:
        fake_1: (B, C, H, W) images from ``latent_1``.
        fake_2: (B, C, H, W) images from ``latent_2`` and the same conditions.
        latent_1: (B, D) latents.
        latent_2: (B, D) latents.
        mode: ``"msgan"`` or ``"dsgan"``.
        tau: DSGAN's upper bound on the ratio.
        eps: Guard against division by zero.

    Returns:
        Scalar loss; lower means more diverse outputs.
    """
    if mode not in DIVERSITY_MODES:
        raise ValueError(f"Invalid diversity mode {mode!r}; expected one of {DIVERSITY_MODES}.")
    image_distance = (fake_1 - fake_2).abs().flatten(1).mean(dim=1)  # (B,)
    latent_distance = (latent_1 - latent_2).abs().flatten(1).mean(dim=1)  # (B,)
    ratio = image_distance / (latent_distance + eps)
    if mode == "msgan":
        return 1.0 / (ratio.mean() + eps)
    return -ratio.clamp(max=tau).mean()
