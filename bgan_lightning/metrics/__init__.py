"""Metrics: LPIPS and the FID Inception-v3 with weights resolved offline when needed."""

from bgan_lightning.metrics.inception import FIDInceptionV3, build_fid, build_inception
from bgan_lightning.metrics.lpips_net import LPIPSNet, build_lpips
from bgan_lightning.metrics.weights import (
    WEIGHTS,
    HashMismatchError,
    ResolvedWeights,
    WeightsUnavailableError,
    load_weights,
    resolve_weights,
    weights_dir,
)

__all__ = [
    "FIDInceptionV3",
    "HashMismatchError",
    "LPIPSNet",
    "ResolvedWeights",
    "WEIGHTS",
    "WeightsUnavailableError",
    "build_fid",
    "build_inception",
    "build_lpips",
    "load_weights",
    "resolve_weights",
    "weights_dir",
]
