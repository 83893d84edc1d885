"""pix2pixHD generators (Wang et al., CVPR 2018): the global generator and the coarse-to-fine local enhancer."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from bgan_lightning.networks.common import check_image_input, norm_layer
from bgan_lightning.networks.resnet import ResnetBlock, ResnetGenerator
from bgan_lightning.networks.sampling import Stage, StagedGenerator


class GlobalGenerator(ResnetGenerator):
    """pix2pixHD's global generator G1, optionally with stochastic convs in its residual blocks (BasisGAN).

    The ResNet layout of pix2pix with ``n_downsampling`` stride-2 convs (4 in pix2pixHD) and a bias in every
    conv. ``stochastic="alternate"`` turns the second conv of every residual block into a
    :class:`bgan_lightning.nn.StochasticBasisConv2d`, as Wang et al. (ICLR 2020) do for Pix2PixHD -> BasisGAN.

    With 36 input channels (Cityscapes: 35 label classes and an instance-edge map), ngf=64, 4 downsamplings
    and 9 blocks the plain network has 182,546,755 parameters, the Pix2PixHD count of their Table A.3. The
    BasisGAN version here (K = 7, latent and hidden size 64) has 163,746,682; the paper reports 154,378,051,
    from a stochastic layer whose exact size the paper does not state.

    Args:
        input_nc: Condition channels (label maps: number of classes, plus 1 for instance edges).
        output_nc: Output channels.
        ngf: Stem width.
        n_downsampling: Stride-2 convs; inputs must be multiples of ``2**n_downsampling``.
        n_blocks: Residual blocks.
        norm: ``"instance"`` (pix2pixHD), ``"batch"`` or ``"none"``.
        stochastic: ``"off"``, ``"alternate"`` or ``"all"``, as in :class:`ResnetGenerator`.
        num_bases: Basis elements K.
        latent_dim: Latent size of each stochastic conv.
        hidden_dim: Hidden width of each basis generator.
        padding_type: Padding in the residual blocks.

    Shape:
        (B, input_nc, H, W) in [-1, 1] -> (B, output_nc, H, W) in [-1, 1].
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        n_downsampling: int = 4,
        n_blocks: int = 9,
        norm: str = "instance",
        stochastic: str = "off",
        num_bases: int = 7,
        latent_dim: int = 64,
        hidden_dim: int = 64,
        padding_type: str = "reflect",
    ) -> None:
        super().__init__(
            input_nc,
            output_nc,
            ngf,
            n_blocks,
            norm,
            use_dropout=False,
            stochastic=stochastic,
            num_bases=num_bases,
            latent_dim=latent_dim,
            hidden_dim=hidden_dim,
            padding_type=padding_type,
            n_downsampling=n_downsampling,
            bias=True,
        )


class LocalEnhancer(StagedGenerator):
    """pix2pixHD's coarse-to-fine generator: a global generator plus ``n_local_enhancers`` local enhancers.

    The global generator (width ``ngf * 2**n_local_enhancers``, without its output layer) runs on the input
    average-pooled ``n_local_enhancers`` times. Each local enhancer, from coarse to fine, encodes the input at
    its own scale with a 7x7 conv and one stride-2 conv and adds the previous level's features. It then
    refines them with ``n_blocks_local`` residual blocks and a stride-2 transposed conv. The finest ends with
    a 7x7 conv and tanh. Stochastic convs sit in the global generator's residual blocks only, so
    :meth:`sample` computes the local encoders, at full resolution, once per input.

    Args:
        input_nc: Condition channels.
        output_nc: Output channels.
        ngf: Width of the finest local enhancer.
        n_downsample_global: Stride-2 convs of the global generator.
        n_blocks_global: Residual blocks of the global generator.
        n_local_enhancers: Local enhancers (1 or more).
        n_blocks_local: Residual blocks per local enhancer.
        norm: ``"instance"``, ``"batch"`` or ``"none"``.
        stochastic: Stochastic convs of the global generator's blocks: ``"off"``, ``"alternate"``, ``"all"``.
        num_bases: Basis elements K.
        latent_dim: Latent size of each stochastic conv.
        hidden_dim: Hidden width of each basis generator.
        padding_type: Padding in the residual blocks.

    Shape:
        (B, input_nc, H, W) in [-1, 1] -> (B, output_nc, H, W) in [-1, 1], H and W multiples of
        ``2**(n_downsample_global + n_local_enhancers)``.
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 32,
        n_downsample_global: int = 3,
        n_blocks_global: int = 9,
        n_local_enhancers: int = 1,
        n_blocks_local: int = 3,
        norm: str = "instance",
        stochastic: str = "off",
        num_bases: int = 7,
        latent_dim: int = 64,
        hidden_dim: int = 64,
        padding_type: str = "reflect",
    ) -> None:
        super().__init__()
        if n_local_enhancers < 1:
            raise ValueError(f"n_local_enhancers must be at least 1, got {n_local_enhancers}; use GlobalGenerator.")
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.n_local_enhancers = n_local_enhancers
        self.n_downsample_global = n_downsample_global

        self.global_generator = ResnetGenerator(
            input_nc,
            output_nc,
            ngf * 2**n_local_enhancers,
            n_blocks_global,
            norm,
            stochastic=stochastic,
            num_bases=num_bases,
            latent_dim=latent_dim,
            hidden_dim=hidden_dim,
            padding_type=padding_type,
            n_downsampling=n_downsample_global,
            bias=True,
            output_layer=False,
        )

        # Index 0 is the coarsest local enhancer (next to the global generator), the last the finest.
        self.local_down = nn.ModuleList()
        self.local_up = nn.ModuleList()
        for n in range(1, n_local_enhancers + 1):
            width = ngf * 2 ** (n_local_enhancers - n)
            self.local_down.append(
                nn.Sequential(
                    nn.ReflectionPad2d(3),
                    nn.Conv2d(input_nc, width, 7),
                    norm_layer(norm, width),
                    nn.ReLU(True),
                    nn.Conv2d(width, width * 2, 3, stride=2, padding=1),
                    norm_layer(norm, width * 2),
                    nn.ReLU(True),
                )
            )
            up: list[nn.Module] = [ResnetBlock(width * 2, padding_type, norm) for _ in range(n_blocks_local)]
            up += [nn.ConvTranspose2d(width * 2, width, 3, stride=2, padding=1, output_padding=1)]
            up += [norm_layer(norm, width), nn.ReLU(True)]
            if n == n_local_enhancers:
                up += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
            self.local_up.append(nn.Sequential(*up))

    @property
    def size_multiple(self) -> int:
        """Height and width of inputs must be multiples of this."""
        return 2 ** (self.n_downsample_global + self.n_local_enhancers)

    def check_input(self, x: Tensor) -> None:
        check_image_input(x, type(self).__name__, self.input_nc, self.size_multiple)

    def _encode_locals(self, x: Tensor) -> tuple[Tensor, ...]:
        # Returns (coarsest input for the global generator, local features from coarse to fine).
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(F.avg_pool2d(pyramid[-1], 3, stride=2, padding=1, count_include_pad=False))
        features = [down(pyramid[self.n_local_enhancers - 1 - i]) for i, down in enumerate(self.local_down)]
        return (pyramid[-1], tuple(features))

    def _refine(self, state: tuple) -> Tensor:
        output, features = state
        for feature, up in zip(features, self.local_up):
            output = up(feature + output)
        return output

    def stages(self) -> list[Stage]:
        # Local encoders are deterministic, so running them first puts them in the shared prefix of sample()
        # and leaves the order in which stochastic layers draw latents unchanged.
        stages = [Stage(self._encode_locals, tuple(self.local_down))]
        for stage in self.global_generator.stages():
            stages.append(Stage(lambda state, run=stage.run: (run(state[0]), state[1]), stage.modules))
        return [*stages, Stage(self._refine, tuple(self.local_up))]
