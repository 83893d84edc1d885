"""The VGG perceptual loss of pix2pixHD: weighted L1 distances between VGG features of two images.

pix2pixHD (Wang et al., CVPR 2018) compares VGG19 activations after relu1_1, relu2_1, relu3_1, relu4_1 and
relu5_1 with weights 1/32, 1/16, 1/8, 1/4 and 1. ImageNet VGG19 weights can only be downloaded, so this module
also accepts the VGG16 feature weights that :mod:`bgan_lightning.metrics.weights` builds offline; VGG16 has the
same five relu_1 stages, at different layer indices.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

VggArch = Literal["vgg16", "vgg19"]

# Indices in torchvision's ``features`` Sequential of relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1.
_RELU_INDICES: dict[str, tuple[int, ...]] = {"vgg16": (1, 6, 11, 18, 25), "vgg19": (1, 6, 11, 20, 29)}
# torchvision configuration keys of the VGG16 and VGG19 layer lists, without batch norm.
_VGG_CONFIGS = {"vgg16": "D", "vgg19": "E"}
_LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

log = logging.getLogger(__name__)


def _features_state_dict(arch: VggArch, weights: str | Path | None) -> dict[str, Tensor]:
    """Load the state dict of a VGG ``features`` block from ``weights``, or resolve the VGG16 features.

    A file may contain a whole torchvision VGG (keys ``features.N.weight``) or only its features (``N.weight``).
    """
    if weights is None:
        if arch != "vgg16":
            raise ValueError(
                f"No {arch} weights can be resolved offline; pass weights=<path to the torchvision {arch} "
                f"state dict> or use arch='vgg16'."
            )
        from bgan_lightning.metrics.weights import load_weights

        state, resolved = load_weights("vgg16")
        log.info("VGG16 perceptual loss uses %s", resolved.path)
    else:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"VGG weights file {path} not found; pass the path of a {arch} state dict.")
        state = torch.load(path, map_location="cpu", weights_only=True)
    if any(key.startswith("features.") for key in state):
        state = {key[len("features.") :]: value for key, value in state.items() if key.startswith("features.")}
    return state


class VGGPerceptualLoss(nn.Module):
    """Weighted L1 between frozen VGG features of a generated and a real image.

    Args:
        arch: ``"vgg19"`` (pix2pixHD) or ``"vgg16"`` (the backbone available offline).
        weights: Path to a state dict of the VGG (whole model or its ``features`` block); None resolves the
            VGG16 features through :func:`bgan_lightning.metrics.weights.load_weights` (offline when needed).
        layer_weights: Weight of each of the five relu_1 stages.
        features: A ready feature network to use instead of building one (a ``nn.Sequential`` laid out like
            torchvision's ``features``); mainly for tests.
    """

    def __init__(
        self,
        arch: VggArch = "vgg16",
        weights: str | None = None,
        layer_weights: tuple[float, ...] = _LAYER_WEIGHTS,
        features: nn.Sequential | None = None,
    ) -> None:
        super().__init__()
        if arch not in _RELU_INDICES:
            raise ValueError(f"Invalid VGG arch {arch!r}; expected one of {sorted(_RELU_INDICES)}.")
        if len(layer_weights) != len(_RELU_INDICES[arch]):
            raise ValueError(
                f"Got {len(layer_weights)} layer weights but the loss compares {len(_RELU_INDICES[arch])} stages; "
                f"pass one weight per stage."
            )
        if features is None:
            # Only the convolutional part is built, because the classifier of a full VGG is 120M unused weights.
            features = make_layers(cfgs[_VGG_CONFIGS[arch]])
            features.load_state_dict(_features_state_dict(arch, weights))
        last = _RELU_INDICES[arch][-1]
        self.features = features[: last + 1].eval().requires_grad_(False)
        self.relu_indices = _RELU_INDICES[arch]
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGPerceptualLoss:
        # The VGG stays in eval mode, whatever mode the surrounding model is in.
        super().train(mode)
        self.features.eval()
        return self

    def _activations(self, image: Tensor) -> list[Tensor]:
        if image.shape[1] == 1:
            image = image.expand(-1, 3, -1, -1)
        x = ((image + 1) / 2 - self.mean) / self.std
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.relu_indices:
                outputs.append(x)
        return outputs

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        """Compute the perceptual distance.

        Args:
            fake: (B, 1 or 3, H, W) in [-1, 1]; gradients flow into it.
            real: (B, 1 or 3, H, W) in [-1, 1]; treated as a constant.

        Returns:
            Scalar loss.
        """
        fake_features = self._activations(fake)
        with torch.no_grad():
            real_features = self._activations(real)
        return sum(weight * F.l1_loss(f, r) for weight, f, r in zip(self.layer_weights, fake_features, real_features))
