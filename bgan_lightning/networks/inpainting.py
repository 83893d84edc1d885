"""Face-inpainting generator: an encoder-decoder that fills a masked region, plain or BasisGAN."""

from __future__ import annotations

from torch import Tensor, nn

from bgan_lightning.networks.common import check_choice, check_image_input, conv2d, conv_bias, norm_layer
from bgan_lightning.networks.resnet import STOCHASTIC_MODES
from bgan_lightning.networks.sampling import Stage, StagedGenerator

DILATIONS = (1, 2, 4, 8, 16, 1)


class InpaintingGenerator(StagedGenerator):
    """Encoder-decoder for one-to-many inpainting, taking the masked image and the mask.

    Wang et al. (ICLR 2020) take the encoder-decoder of DSGAN (Yang et al., ICLR 2019) and replace its convs
    by stochastic ones. This network follows the same design family as the context-encoder and
    globally-and-locally-consistent completion networks. It has a 5x5 stem and two stride-2 4x4 convs. Six
    3x3 convs at a quarter resolution, with dilations 1, 2, 4, 8, 16 and 1, see the whole hole. Two stride-2
    transposed convs return to full resolution.

    NOTE: this is not a layer-by-layer copy of DSGAN's inpainting network, whose exact layer table is not
    reproduced here, so parameter counts differ from theirs.

    The input holds the image with the hole blanked (3 channels) and the mask (1 channel, 1 inside the
    hole). With ``composite=True`` the output keeps the known pixels and takes only the hole from the network.

    Args:
        input_nc: Channels of masked image plus mask (4 for RGB faces).
        output_nc: Output channels (3).
        ngf: Width of the stem; the middle convs have ``4 * ngf`` channels.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        stochastic: ``"off"`` (plain), ``"alternate"`` (BasisGAN: every second middle conv is stochastic)
            or ``"all"`` (every middle conv).
        num_bases: Basis elements K.
        latent_dim: Latent size of each stochastic conv.
        hidden_dim: Hidden width of each basis generator.
        composite: Paste the known pixels of the input into the output.

    Shape:
        (B, input_nc, H, W) in [-1, 1] (mask in {0, 1}) -> (B, output_nc, H, W) in [-1, 1], H and W
        multiples of 4.
    """

    def __init__(
        self,
        input_nc: int = 4,
        output_nc: int = 3,
        ngf: int = 64,
        norm: str = "batch",
        stochastic: str = "off",
        num_bases: int = 7,
        latent_dim: int = 64,
        hidden_dim: int = 64,
        composite: bool = False,
    ) -> None:
        super().__init__()
        check_choice("stochastic", stochastic, STOCHASTIC_MODES)
        if composite and input_nc - 1 != output_nc:
            raise ValueError(
                f"composite=True pastes the {input_nc - 1} image channels of the input into the output, but "
                f"output_nc={output_nc}; set output_nc={input_nc - 1} or composite=False."
            )
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.composite = composite
        bias = conv_bias(norm)
        basis = {"num_bases": num_bases, "latent_dim": latent_dim, "hidden_dim": hidden_dim}

        def unit(layer: nn.Module, width: int) -> list[nn.Module]:
            return [layer, norm_layer(norm, width), nn.ReLU(True)]

        self.encoder = nn.Sequential(
            *unit(nn.Conv2d(input_nc, ngf, 5, padding=2, bias=bias), ngf),
            *unit(nn.Conv2d(ngf, ngf * 2, 4, stride=2, padding=1, bias=bias), ngf * 2),
            *unit(nn.Conv2d(ngf * 2, ngf * 2, 3, padding=1, bias=bias), ngf * 2),
            *unit(nn.Conv2d(ngf * 2, ngf * 4, 4, stride=2, padding=1, bias=bias), ngf * 4),
        )

        width = ngf * 4
        self.middle = nn.ModuleList()
        for i, dilation in enumerate(DILATIONS):
            stochastic_conv = stochastic == "all" or (stochastic == "alternate" and i % 2 == 1)
            conv = conv2d(stochastic_conv, width, width, 3, padding=dilation, dilation=dilation, bias=bias, **basis)
            self.middle.append(nn.Sequential(*unit(conv, width)))

        self.decoder = nn.Sequential(
            *unit(nn.ConvTranspose2d(width, ngf * 2, 4, stride=2, padding=1, bias=bias), ngf * 2),
            *unit(nn.Conv2d(ngf * 2, ngf * 2, 3, padding=1, bias=bias), ngf * 2),
            *unit(nn.ConvTranspose2d(ngf * 2, ngf, 4, stride=2, padding=1, bias=bias), ngf),
            nn.Conv2d(ngf, output_nc, 3, padding=1),
            nn.Tanh(),
        )

    def check_input(self, x: Tensor) -> None:
        check_image_input(x, type(self).__name__, self.input_nc, 4)

    def _finish(self, state: tuple[Tensor, Tensor]) -> Tensor:
        x, h = state
        out = self.decoder(h)
        if not self.composite:
            return out
        mask = x[:, -1:]
        return x[:, :-1] * (1 - mask) + out * mask

    def stages(self) -> list[Stage]:
        # The state carries the input to the end, for compositing.
        stages = [Stage(lambda x: (x, self.encoder(x)), (self.encoder,))]
        for layer in self.middle:
            stages.append(Stage(lambda state, layer=layer: (state[0], layer(state[1])), (layer,)))
        return [*stages, Stage(self._finish, (self.decoder,))]
