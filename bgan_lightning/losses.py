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
            "MultiscaleDiscriminator(get_intermediate_features=True); set lambda_feat=0 otherwise."
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
