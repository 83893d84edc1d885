"""The ResNet generator of pix2pix (Isola et al., CVPR 2017) and its BasisGAN version."""

from __future__ import annotations

from torch import Tensor, nn

from bgan_lightning.networks.common import (
    check_choice,
    check_image_input,
    conv2d,
    conv_bias,
    norm_layer,
    padding_layers,
)
from bgan_lightning.networks.sampling import Stage, StagedGenerator

STOCHASTIC_MODES = ("off", "alternate", "all")


class ResnetBlock(nn.Module):
    """Residual block ``x + tail(head(x))`` with two 3x3 convs at constant width.

    ``head`` is pad, conv, norm, ReLU (and dropout); ``tail`` is pad, conv, norm. BasisGAN makes the second
    conv stochastic, so that regular and stochastic convs alternate along the network.

    Args:
        dim: Channels in and out.
        padding_type: ``"reflect"``, ``"replicate"`` or ``"zero"``.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        use_dropout: Dropout (p = 0.5) between the two convs.
        stochastic: Which of the two convs are :class:`bgan_lightning.nn.StochasticBasisConv2d`, as
            (first, second).
        bias: Whether the convs carry a bias.
        num_bases: Basis elements K of the stochastic convs.
        latent_dim: Latent size of the stochastic convs.
        hidden_dim: Hidden width of their basis generators.
        stochastic_layer: ``"basis"`` (:class:`bgan_lightning.nn.StochasticBasisConv2d`) or ``"filter"``
            (:class:`bgan_lightning.nn.FilterGeneratorConv2d`).

    Shape:
        (B, dim, H, W) -> (B, dim, H, W).
    """

    def __init__(
        self,
        dim: int,
        padding_type: str = "reflect",
        norm: str = "instance",
        use_dropout: bool = False,
        stochastic: tuple[bool, bool] = (False, False),
        bias: bool = True,
        num_bases: int = 7,
        latent_dim: int = 64,
        hidden_dim: int = 64,
        stochastic_layer: str = "basis",
    ) -> None:
        super().__init__()
        basis = {
            "num_bases": num_bases,
            "latent_dim": latent_dim,
            "hidden_dim": hidden_dim,
            "stochastic_layer": stochastic_layer,
        }

        pad, conv_padding = padding_layers(padding_type, 1)
        head = [*pad, conv2d(stochastic[0], dim, dim, 3, padding=conv_padding, bias=bias, **basis)]
        head += [norm_layer(norm, dim), nn.ReLU(True)]
        if use_dropout:
            head.append(nn.Dropout(0.5))
        self.head = nn.Sequential(*head)

        pad, conv_padding = padding_layers(padding_type, 1)
        tail = [*pad, conv2d(stochastic[1], dim, dim, 3, padding=conv_padding, bias=bias, **basis)]
        self.tail = nn.Sequential(*tail, norm_layer(norm, dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.tail(self.head(x))

    def stages(self) -> list[Stage]:
        """Two stages: ``x -> (x, head(x))`` and ``(x, h) -> x + tail(h)``, so ``sample`` can split the block."""
        return [
            Stage(lambda x: (x, self.head(x)), (self.head,)),
            Stage(lambda state: state[0] + self.tail(state[1]), (self.tail,)),
        ]


class ResnetGenerator(StagedGenerator):
    """pix2pix's ResNet generator, optionally with stochastic convs in its residual blocks (BasisGAN).

    A 7x7 stem, ``n_downsampling`` stride-2 3x3 convs doubling the width, ``n_blocks`` residual blocks, as
    many stride-2 transposed convs halving it, and a 7x7 conv with tanh. With 9 blocks, ngf=64, instance norm
    and 3 -> 3 channels the plain network has 11,378,179 parameters, as in the reference pix2pix code. The
    BasisGAN version (``stochastic="alternate"``, K = 7, latent and hidden size 64) has 10,272,826.

    Wang et al. (ICLR 2020), Table A.3, report 11,330,243 and 10,261,763 parameters for their two
    generators. The plain count is 47,936 below the reference code's. Changing the norm, the bias rule or
    the input and output channel counts does not reproduce it, so their generator differs from the
    reference in a detail the paper does not state. Their BasisGAN generator saves 1,068,480 parameters,
    this one 1,105,353.

    The same network maps an image to itself as the stochastic auto-encoder of the paper (section 5.1):
    build it with ``input_nc == output_nc`` and ``stochastic="alternate"`` (see :func:`stochastic_autoencoder`).

    Args:
        input_nc: Condition channels.
        output_nc: Output channels.
        ngf: Width of the stem; the blocks have ``ngf * 2**n_downsampling`` channels.
        n_blocks: Residual blocks (6 or 9 in pix2pix).
        norm: ``"instance"``, ``"batch"`` or ``"none"``.
        use_dropout: Dropout inside the residual blocks.
        stochastic: ``"off"`` (pix2pix), ``"alternate"`` (BasisGAN: the second conv of each block is
            stochastic) or ``"all"`` (both convs of each block).
        num_bases: Basis elements K of the stochastic convs (7 in the paper).
        latent_dim: Latent size of each stochastic conv (64 in the paper).
        hidden_dim: Hidden width of each basis generator (64 in the paper).
        padding_type: ``"reflect"``, ``"replicate"`` or ``"zero"`` padding in the residual blocks.
        n_downsampling: Stride-2 convs (2 in pix2pix); inputs must be multiples of ``2**n_downsampling``.
        bias: Whether convs carry a bias; None follows pix2pix (a bias unless followed by batch norm).
        output_layer: End with the 7x7 conv and tanh; pix2pixHD's local enhancer drops them.
        stochastic_layer: ``"basis"`` (BasisGAN) or ``"filter"``: whole filters generated from the latent
            (:class:`bgan_lightning.nn.FilterGeneratorConv2d`, the paper's section 3 baseline, with
            ``hidden_dim * C * C * 9`` weights per layer).

    Shape:
        (B, input_nc, H, W) in [-1, 1] -> (B, output_nc, H, W) in [-1, 1], H and W multiples of
        ``2**n_downsampling``.
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        use_dropout: bool = False,
        stochastic: str = "off",
        num_bases: int = 7,
        latent_dim: int = 64,
        hidden_dim: int = 64,
        padding_type: str = "reflect",
        n_downsampling: int = 2,
        bias: bool | None = None,
        output_layer: bool = True,
        stochastic_layer: str = "basis",
    ) -> None:
        super().__init__()
        check_choice("stochastic", stochastic, STOCHASTIC_MODES)
        for name, value, low in (("input_nc", input_nc, 1), ("output_nc", output_nc, 1), ("ngf", ngf, 1)):
            if value < low:
                raise ValueError(f"{name} must be a positive integer, got {value}.")
        if n_blocks < 0 or n_downsampling < 0:
            raise ValueError(f"n_blocks and n_downsampling must be >= 0, got {n_blocks} and {n_downsampling}.")
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.stochastic = stochastic
        self.n_downsampling = n_downsampling
        use_bias = conv_bias(norm) if bias is None else bias

        encoder = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=use_bias), norm_layer(norm, ngf)]
        encoder.append(nn.ReLU(True))
        for i in range(n_downsampling):
            width = ngf * 2**i
            encoder += [nn.Conv2d(width, width * 2, 3, stride=2, padding=1, bias=use_bias)]
            encoder += [norm_layer(norm, width * 2), nn.ReLU(True)]
        self.encoder = nn.Sequential(*encoder)

        width = ngf * 2**n_downsampling
        flags = {"off": (False, False), "alternate": (False, True), "all": (True, True)}[stochastic]
        self.blocks = nn.ModuleList(
            ResnetBlock(
                width,
                padding_type,
                norm,
                use_dropout,
                flags,
                use_bias,
                num_bases,
                latent_dim,
                hidden_dim,
                stochastic_layer,
            )
            for _ in range(n_blocks)
        )

        decoder: list[nn.Module] = []
        for i in range(n_downsampling):
            width = ngf * 2 ** (n_downsampling - i)
            decoder += [nn.ConvTranspose2d(width, width // 2, 3, 2, padding=1, output_padding=1, bias=use_bias)]
            decoder += [norm_layer(norm, width // 2), nn.ReLU(True)]
        if output_layer:
            decoder += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.decoder = nn.Sequential(*decoder)

    @property
    def size_multiple(self) -> int:
        """Height and width of inputs must be multiples of this."""
        return 2**self.n_downsampling

    def check_input(self, x: Tensor) -> None:
        check_image_input(x, type(self).__name__, self.input_nc, self.size_multiple)

    def stages(self) -> list[Stage]:
        stages = [Stage(self.encoder, (self.encoder,))]
        for block in self.blocks:
            stages += block.stages()
        return [*stages, Stage(self.decoder, (self.decoder,))]


def stochastic_autoencoder(
    nc: int = 3,
    ngf: int = 64,
    n_blocks: int = 9,
    norm: str = "instance",
    num_bases: int = 7,
    latent_dim: int = 64,
    hidden_dim: int = 64,
) -> ResnetGenerator:
    """Build the stochastic auto-encoder of Wang et al. (ICLR 2020), section 5.1: a BasisGAN ResNet image -> image.

    It is trained to reconstruct its own input (L1 + GAN, no pairs); its stochastic convs keep it from
    collapsing to the identity. In a LightningCLI config use ``class_path:
    bgan_lightning.networks.stochastic_autoencoder`` or a ``ResnetGenerator`` with ``input_nc == output_nc``.

    Args:
        nc: Image channels, in and out.
        ngf: Stem width.
        n_blocks: Residual blocks.
        norm: ``"instance"``, ``"batch"`` or ``"none"``.
        num_bases: Basis elements K.
        latent_dim: Latent size of each stochastic conv.
        hidden_dim: Hidden width of each basis generator.

    Returns:
        A :class:`ResnetGenerator` with ``stochastic="alternate"``, (B, nc, H, W) -> (B, nc, H, W).
    """
    return ResnetGenerator(
        nc,
        nc,
        ngf,
        n_blocks,
        norm,
        stochastic="alternate",
        num_bases=num_bases,
        latent_dim=latent_dim,
        hidden_dim=hidden_dim,
    )
