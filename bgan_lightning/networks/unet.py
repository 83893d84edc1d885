"""The U-Net generator of pix2pix (unet_128, unet_256), optionally stochastic in chosen decoder levels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from bgan_lightning.networks.common import check_image_input, concat_latent, conv_bias, conv_transpose2d, norm_layer
from bgan_lightning.networks.sampling import Stage, StagedGenerator
from bgan_lightning.nn import StochasticModule


class LatentCode(StochasticModule):
    """Draw a latent code per sample: (B, ...) -> z of shape (B, latent_dim), from N(0, I) or ``latent_control``.

    Args:
        latent_dim: Size of the code.
    """

    def forward(self, x: Tensor) -> Tensor:
        return self.draw_latent(x.shape[0], x)


class UnetGenerator(StagedGenerator):
    """pix2pix's U-Net: ``num_downs`` stride-2 4x4 convs, mirrored transposed convs and skip connections.

    Levels are numbered from the outermost (0, full resolution) to the innermost (``num_downs - 1``, the
    bottleneck). Level ``l`` has ``ngf * min(2**l, 8)`` channels. The decoder of level ``l`` takes the
    encoder output of level ``l`` concatenated with the decoder output of level ``l + 1``. As in pix2pix the
    bottleneck has no normalization, so an input of exactly ``2**num_downs`` pixels (a 1x1 bottleneck) with
    batch size 1 and batch norm trains without error.

    ``stochastic_levels`` makes the transposed conv of the chosen decoder levels a
    :class:`bgan_lightning.nn.StochasticBasisConvTranspose2d`. The encoder is then deterministic and
    :meth:`sample` computes it once per input.

    ``noise_dim`` adds a latent code, broadcast over the image, to the input of every encoder level. This is
    BicycleGAN's U-Net with the latent added at all levels, which DSGAN's public code uses for its
    image-to-image baseline. The code is drawn by a :class:`LatentCode`, so
    :func:`bgan_lightning.nn.latent_control` seeds and shares it like a stochastic layer's latent.

    Args:
        input_nc: Condition channels.
        output_nc: Output channels.
        num_downs: Downsamplings: 7 for unet_128, 8 for unet_256; inputs must be multiples of
            ``2**num_downs``.
        ngf: Width of the outermost level.
        norm: ``"batch"`` (pix2pix's default), ``"instance"`` or ``"none"``.
        use_dropout: Dropout (p = 0.5) in the decoders of the levels of width ``8 * ngf`` between level 4 and
            the bottleneck, as pix2pix.
        stochastic_levels: Decoder levels whose transposed conv is stochastic, each in [0, num_downs).
        num_bases: Basis elements K of the stochastic layers.
        latent_dim: Latent size of each stochastic layer.
        hidden_dim: Hidden width of each basis generator.
        noise_dim: Size of the latent code added to every encoder level; 0 for none.

    Shape:
        (B, input_nc, H, W) in [-1, 1] -> (B, output_nc, H, W) in [-1, 1].
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = False,
        stochastic_levels: Sequence[int] = (),
        num_bases: int = 7,
        latent_dim: int = 64,
        hidden_dim: int = 64,
        noise_dim: int = 0,
    ) -> None:
        super().__init__()
        if noise_dim < 0:
            raise ValueError(f"noise_dim must be >= 0 (0 for no latent code), got {noise_dim}.")
        if num_downs < 2:
            raise ValueError(f"num_downs must be at least 2, got {num_downs}.")
        levels = sorted(set(stochastic_levels))
        bad = [level for level in levels if not 0 <= level < num_downs]
        if bad:
            raise ValueError(f"stochastic_levels {bad} are outside [0, {num_downs}); levels count from 0 (outermost).")
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.num_downs = num_downs
        self.stochastic_levels = tuple(levels)
        use_bias = conv_bias(norm)
        basis = {"num_bases": num_bases, "latent_dim": latent_dim, "hidden_dim": hidden_dim}
        inner = num_downs - 1
        widths = [ngf * min(2**level, 8) for level in range(num_downs)]

        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for level in range(num_downs):
            in_width = input_nc if level == 0 else widths[level - 1]
            conv = nn.Conv2d(in_width + noise_dim, widths[level], 4, stride=2, padding=1, bias=use_bias)
            if level == 0:
                self.down.append(nn.Sequential(conv))
            elif level == inner:
                self.down.append(nn.Sequential(nn.LeakyReLU(0.2, True), conv))
            else:
                self.down.append(nn.Sequential(nn.LeakyReLU(0.2, True), conv, norm_layer(norm, widths[level])))

            stochastic = level in levels
            up_in = widths[level] if level == inner else widths[level] * 2
            if level == 0:
                upconv = conv_transpose2d(stochastic, up_in, output_nc, 4, stride=2, padding=1, **basis)
                self.up.append(nn.Sequential(nn.ReLU(True), upconv, nn.Tanh()))
                continue
            upconv = conv_transpose2d(stochastic, up_in, in_width, 4, stride=2, padding=1, bias=use_bias, **basis)
            layers = [nn.ReLU(True), upconv, norm_layer(norm, in_width)]
            if use_dropout and level >= 4 and level != inner and widths[level - 1] == widths[level] == 8 * ngf:
                layers.append(nn.Dropout(0.5))
            self.up.append(nn.Sequential(*layers))
        self.code = LatentCode(noise_dim) if noise_dim > 0 else None

    @property
    def size_multiple(self) -> int:
        """Height and width of inputs must be multiples of this."""
        return 2**self.num_downs

    def check_input(self, x: Tensor) -> None:
        check_image_input(x, type(self).__name__, self.input_nc, self.size_multiple)

    def _down_stage(self, level: int) -> Stage:
        down = self.down[level]
        if self.code is not None:
            return self._down_stage_concat_latent(level)
        if level == 0:
            return Stage(lambda x: (down(x),), (down,))
        return Stage(lambda skips: (*skips, down(skips[-1])), (down,))

    def _down_stage_concat_latent(self, level: int) -> Stage:
        # The state carries the drawn code z (B, noise_dim) through the encoder as (z, encoder outputs).
        # The innermost level drops it, so the decoder stages see the same state as without a code.
        down, code = self.down[level], self.code

        def first(x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
            z = code(x)
            return z, (down(concat_latent(x, z)),)

        def middle(state: tuple[Tensor, tuple[Tensor, ...]]) -> tuple[Tensor, tuple[Tensor, ...]]:
            z, skips = state
            return z, (*skips, down(concat_latent(skips[-1], z)))

        def innermost(state: tuple[Tensor, tuple[Tensor, ...]]) -> tuple[Tensor, ...]:
            z, skips = state
            return (*skips, down(concat_latent(skips[-1], z)))

        if level == 0:
            return Stage(first, (down, code))
        return Stage(innermost if level == self.num_downs - 1 else middle, (down,))

    def _up_stage(self, level: int) -> Stage:
        # The state is (encoder outputs of the outer levels, decoder output of the level below).
        up = self.up[level]
        if level == self.num_downs - 1:
            return Stage(lambda skips: (skips[:-1], up(skips[-1])), (up,))
        if level == 0:
            return Stage(lambda state: up(torch.cat([state[0][-1], state[1]], 1)), (up,))
        return Stage(lambda state: (state[0][:-1], up(torch.cat([state[0][-1], state[1]], 1))), (up,))

    def stages(self) -> list[Stage]:
        down = [self._down_stage(level) for level in range(self.num_downs)]
        return down + [self._up_stage(level) for level in reversed(range(self.num_downs))]
