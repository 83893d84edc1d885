"""Face-inpainting generator of DSGAN (Yang et al., ICLR 2019), plain, with a latent input, or BasisGAN."""

from __future__ import annotations

from torch import Tensor, nn

from bgan_lightning.networks.common import check_image_input, concat_latent, conv_bias, norm_layer
from bgan_lightning.networks.resnet import ResnetGenerator
from bgan_lightning.networks.sampling import Stage, StagedGenerator
from bgan_lightning.nn import StochasticModule


def hole_mask(condition: Tensor) -> Tensor:
    """Return the hole of an inpainting condition as 1 inside and 0 outside: (B, C, H, W) -> (B, 1, H, W).

    The mask is the condition's last channel. Any value above 0 marks the hole, so both the data modules'
    encoding (1 inside, -1 outside) and a 1/0 mask work.
    """
    return (condition[:, -1:] > 0).to(condition.dtype)


class LatentFusion(StochasticModule):
    """Fuse a latent code into a feature map: broadcast, concatenate, then 3x3 conv, norm and ReLU.

    This is how DSGAN's inpainting generator takes its noise: at the bottleneck rather than at the input. The
    module is a :class:`bgan_lightning.nn.StochasticModule`, so :func:`bgan_lightning.nn.latent_control`
    seeds, shares or sets its code like any stochastic layer.

    Args:
        channels: Channels C of the feature map, kept by the fusion.
        latent_dim: Size of the latent code.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.

    Shape:
        (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, latent_dim: int, norm: str = "instance") -> None:
        super().__init__(latent_dim)
        conv = nn.Conv2d(channels + latent_dim, channels, 3, padding=1, bias=conv_bias(norm))
        self.fuse = nn.Sequential(conv, norm_layer(norm, channels), nn.ReLU(True))

    def forward(self, h: Tensor) -> Tensor:
        z = self.draw_latent(h.shape[0], self.fuse[0].weight)  # (B, latent_dim)
        return self.fuse(concat_latent(h, z))


class InpaintingGenerator(StagedGenerator):
    """DSGAN's face-inpainting generator, taking the masked image and the mask.

    Wang et al. (ICLR 2020) use "the exact same network" as DSGAN for inpainting and replace its convs by
    stochastic ones. DSGAN's public code (github.com/maga33/DSGAN, ``Inpainting/models/Generator_NET.py``
    and ``Inpainting/train.py``) builds a pix2pixHD-style global generator. It has a 7x7 stem and three
    stride-2 3x3 convs (64 to 512 channels). A 32-d noise code is fused in at the bottleneck, followed by
    nine residual blocks, three stride-2 transposed convs and a 7x7 conv with tanh, all with instance norm.
    An output gate keeps the known pixels and takes only the hole from the network.

    Here the body is a :class:`ResnetGenerator` with ``n_downsampling=3``. With the defaults and
    ``noise_dim=32`` (the DSGAN baseline) it has 48,100,611 parameters. The BasisGAN version
    (``stochastic="alternate"``, ``noise_dim=0``) has 40,949,050.

    The condition contains the image with the hole blanked (``input_nc - 1`` channels) and the mask (last
    channel, 1 inside the hole and -1 or 0 outside, see :func:`hole_mask`). Only the image channels enter
    the network, as in DSGAN, and the mask drives the output gate.

    Args:
        input_nc: Channels of masked image plus mask (4 for RGB faces).
        output_nc: Output channels (3).
        ngf: Width of the stem; the residual blocks have ``ngf * 2**n_downsampling`` channels.
        n_downsampling: Stride-2 convs (3 in DSGAN).
        n_blocks: Residual blocks (9 in DSGAN).
        norm: ``"instance"`` (DSGAN), ``"batch"`` or ``"none"``.
        stochastic: ``"off"`` (plain), ``"alternate"`` (BasisGAN: the second conv of each residual block is
            stochastic) or ``"all"`` (both convs of each block).
        noise_dim: Size of the noise code fused at the bottleneck (32 in DSGAN's training script); 0 for none.
        num_bases: Basis elements K of the stochastic convs.
        latent_dim: Latent size of each stochastic conv.
        hidden_dim: Hidden width of each basis generator.
        composite: Keep the known pixels of the input (DSGAN's output gate).

    Shape:
        (B, input_nc, H, W) in [-1, 1] -> (B, output_nc, H, W) in [-1, 1], H and W
        multiples of ``2**n_downsampling``.
    """

    def __init__(
        self,
        input_nc: int = 4,
        output_nc: int = 3,
        ngf: int = 64,
        n_downsampling: int = 3,
        n_blocks: int = 9,
        norm: str = "instance",
        stochastic: str = "off",
        noise_dim: int = 0,
        num_bases: int = 7,
        latent_dim: int = 64,
        hidden_dim: int = 64,
        composite: bool = True,
    ) -> None:
        super().__init__()
        if input_nc < 2:
            raise ValueError(f"input_nc counts the image channels plus the mask, so it must be >= 2, got {input_nc}.")
        if composite and input_nc - 1 != output_nc:
            raise ValueError(
                f"composite=True pastes the {input_nc - 1} image channels of the input into the output, but "
                f"output_nc={output_nc}; set output_nc={input_nc - 1} or composite=False."
            )
        if noise_dim < 0:
            raise ValueError(f"noise_dim must be >= 0 (0 for no noise input), got {noise_dim}.")
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.composite = composite
        self.body = ResnetGenerator(
            input_nc - 1,
            output_nc,
            ngf,
            n_blocks,
            norm,
            stochastic=stochastic,
            num_bases=num_bases,
            latent_dim=latent_dim,
            hidden_dim=hidden_dim,
            n_downsampling=n_downsampling,
        )
        width = ngf * 2**n_downsampling
        self.fusion = LatentFusion(width, noise_dim, norm) if noise_dim > 0 else None

    @property
    def size_multiple(self) -> int:
        """Height and width of inputs must be multiples of this."""
        return self.body.size_multiple

    def check_input(self, x: Tensor) -> None:
        check_image_input(x, type(self).__name__, self.input_nc, self.size_multiple)

    def _finish(self, state: tuple[Tensor, Tensor]) -> Tensor:
        x, h = state
        out = self.body.decoder(h)
        if not self.composite:
            return out
        mask = hole_mask(x)
        return x[:, :-1] * (1 - mask) + out * mask

    def stages(self) -> list[Stage]:
        # The state carries the condition to the end, for the output gate.
        stages = [Stage(lambda x: (x, self.body.encoder(x[:, :-1])), (self.body.encoder,))]
        if self.fusion is not None:
            stages.append(Stage(lambda state: (state[0], self.fusion(state[1])), (self.fusion,)))
        for block in self.body.blocks:
            for stage in block.stages():
                stages.append(Stage(lambda state, run=stage.run: (state[0], run(state[1])), stage.modules))
        return [*stages, Stage(self._finish, (self.body.decoder,))]
