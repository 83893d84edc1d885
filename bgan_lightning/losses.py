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


def weighted_feature_pairs(
    output_1: DiscriminatorOutput, output_2: DiscriminatorOutput, purpose: str, fix: str
) -> list[tuple[float, Tensor, Tensor]]:
    """Pair the intermediate features of two multiscale discriminator outputs with pix2pixHD's weights.

    Every feature map except each scale's final prediction is paired, with weight 4 / (n_layers + 1) per layer
    and 1 / num_D per scale, as in Wang et al. (CVPR 2018), equation 4.

    Args:
        output_1: Multiscale discriminator output (list of lists of features).
        output_2: Another output of the same discriminator.
        purpose: What the features are for, for the error message.
        fix: The setting that turns ``purpose`` off, for the error message.

    Returns:
        (weight, feature of output_1, feature of output_2) for every intermediate feature map.

    Raises:
        ValueError: If the outputs carry no intermediate features.
    """
    if isinstance(output_1, Tensor) or not all(isinstance(scale, (list, tuple)) for scale in output_1):
        raise ValueError(
            f"{purpose} needs a discriminator that returns intermediate features, such as "
            f"MultiscaleDiscriminator(return_features=True); {fix} otherwise."
        )
    num_scales = len(output_1)
    pairs = []
    for scale_1, scale_2 in zip(output_1, output_2):
        num_features = len(scale_1) - 1
        if num_features < 1:
            raise ValueError(f"{purpose} needs at least one intermediate feature map per scale; {fix} otherwise.")
        for feature_1, feature_2 in zip(scale_1[:-1], scale_2[:-1]):
            pairs.append((4.0 / num_features / num_scales, feature_1, feature_2))
    return pairs


def feature_matching_loss(fake_output: DiscriminatorOutput, real_output: DiscriminatorOutput) -> Tensor:
    """pix2pixHD feature matching: L1 between discriminator features of fake and real images.

    Every intermediate feature map except the final prediction contributes, with the weights of
    :func:`weighted_feature_pairs`.

    Args:
        fake_output: Multiscale discriminator output on generated images (list of lists of features).
        real_output: The same on real images; detached here, so no gradient reaches the discriminator.

    Returns:
        Scalar loss.

    Raises:
        ValueError: If the outputs carry no intermediate features.
    """
    pairs = weighted_feature_pairs(fake_output, real_output, "Feature matching", "set lambda_feat=0")
    loss = pairs[0][1].new_zeros(())
    for weight, fake_feature, real_feature in pairs:
        loss = loss + weight * F.l1_loss(fake_feature, real_feature.detach())
    return loss


def feature_distance(output_1: DiscriminatorOutput, output_2: DiscriminatorOutput) -> Tensor:
    """Per-sample L1 distance between the discriminator features of two batches of images.

    DSGAN's inpainting model measures the distance between two outputs this way (its "perceptual" distance),
    with the weights of :func:`weighted_feature_pairs`.

    Args:
        output_1: Multiscale discriminator output on the first images (list of lists of features).
        output_2: The same on the second images, for the same conditions.

    Returns:
        Distances of shape (B,).
    """
    pairs = weighted_feature_pairs(
        output_1, output_2, "A discriminator-feature distance", "set diversity_distance='pixels'"
    )
    distance = pairs[0][1].new_zeros(pairs[0][1].shape[0])
    for weight, feature_1, feature_2 in pairs:
        distance = distance + weight * (feature_1 - feature_2).abs().flatten(1).mean(dim=1)
    return distance


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
    output_distance: Tensor | None = None,
) -> Tensor:
    """Latent-distance diversity regularizers, to be added to the generator loss with a positive weight.

    Both compare the distance between two outputs for the same condition with the distance between the latents
    that produced them, per sample ``r = mean|fake_1 - fake_2| / mean|latent_1 - latent_2|``, or
    ``r = output_distance / mean|latent_1 - latent_2|`` when another distance is given:

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
        output_distance: Per-sample distance (B,) between the two outputs to use instead of the pixel
            distance, such as :func:`feature_distance`.

    Returns:
        Scalar loss; lower means more diverse outputs.
    """
    if mode not in DIVERSITY_MODES:
        raise ValueError(f"Invalid diversity mode {mode!r}; expected one of {DIVERSITY_MODES}.")
    if output_distance is None:
        output_distance = (fake_1 - fake_2).abs().flatten(1).mean(dim=1)  # (B,)
    latent_distance = (latent_1 - latent_2).abs().flatten(1).mean(dim=1)  # (B,)
    ratio = output_distance / (latent_distance + eps)
    if mode == "msgan":
        return 1.0 / (ratio.mean() + eps)
    return -ratio.clamp(max=tau).mean()
