"""The latent-input baseline: a generator fed a random code broadcast and concatenated to its input."""

from __future__ import annotations

import logging

from torch import Tensor, nn

from bgan_lightning.networks.common import check_image_input, concat_latent
from bgan_lightning.networks.sampling import Stage, StagedGenerator
from bgan_lightning.nn import StochasticModule

log = logging.getLogger(__name__)


def first_conv_is_instance_normalized(network: nn.Module) -> bool:
    """Return whether the first conv of ``network``, in registration order, is followed by instance norm."""
    layers = [module for module in network.modules() if not list(module.children())]
    for index, layer in enumerate(layers[:-1]):
        if isinstance(layer, nn.Conv2d):
            return isinstance(layers[index + 1], nn.InstanceNorm2d)
    return False


class LatentInputGenerator(StochasticModule, StagedGenerator):
    """Wrap a generator so that it takes a condition plus a latent code, as "pix2pix + noise" and BicycleGAN.

    Each sample draws ``z`` ~ N(0, I) of size ``latent_dim`` (8 by default), which is broadcast over the image
    and concatenated to the condition along channels. The wrapper is itself a
    :class:`bgan_lightning.nn.StochasticModule`, so :func:`bgan_lightning.nn.latent_control` seeds, shares or
    sets its code like any stochastic layer (the MSGAN and DSGAN regularizers pass explicit codes that way),
    and ``last_latent`` keeps the code of the last forward pass.

    NOTE: the latent channels are constant over the image, so a normalization right after the first conv
    (the ResNet stem with instance norm) removes them and every sample comes out the same. Wrap a network
    whose first conv is not normalized, such as :class:`UnetGenerator`.

    Args:
        generator: The wrapped network, built with ``input_nc`` = condition channels + ``latent_dim``, for
            example ``UnetGenerator(input_nc=3 + 8)``. In a LightningCLI config give it as a nested
            ``class_path`` with ``init_args``.
        latent_dim: Size of the latent code.

    Attributes:
        input_nc: Condition channels (the wrapped generator's ``input_nc`` minus ``latent_dim``).
        output_nc: The wrapped generator's output channels.

    Shape:
        (B, input_nc, H, W) in [-1, 1] -> the wrapped generator's output, (B, output_nc, H, W).
    """

    def __init__(self, generator: nn.Module, latent_dim: int = 8) -> None:
        super().__init__(latent_dim)
        inner_nc = getattr(generator, "input_nc", None)
        if inner_nc is None:
            raise ValueError(
                f"{type(generator).__name__} has no input_nc attribute; LatentInputGenerator needs it to tell the "
                "condition channels from the latent channels."
            )
        if inner_nc <= latent_dim:
            raise ValueError(
                f"The wrapped generator takes {inner_nc} input channels, which leaves none for the condition after "
                f"{latent_dim} latent channels; build it with input_nc = condition channels + {latent_dim}."
            )
        if first_conv_is_instance_normalized(generator):
            log.warning(
                "The first conv of %s is followed by instance norm, which removes the constant latent channels, "
                "so every sample will be the same; wrap a network whose first conv is not normalized, such as "
                "UnetGenerator.",
                type(generator).__name__,
            )
        self.generator = generator
        self.input_nc = inner_nc - latent_dim
        self.output_nc = getattr(generator, "output_nc", None)

    def check_input(self, x: Tensor) -> None:
        check_image_input(x, type(self).__name__, self.input_nc, getattr(self.generator, "size_multiple", 1))

    def _append_latent(self, x: Tensor) -> Tensor:
        z = self.draw_latent(x.shape[0], x)  # (B, latent_dim)
        return concat_latent(x, z)

    def stages(self) -> list[Stage]:
        # The latent enters at the input, so sample() shares nothing and repeats the condition first.
        if isinstance(self.generator, StagedGenerator):
            inner = self.generator.stages()
        else:
            inner = [Stage(self.generator, (self.generator,))]
        return [Stage(self._append_latent, (self,)), *inner]
