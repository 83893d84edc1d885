"""Metrics: LPIPS diversity, FID, the mode oracle and test reports, with weights resolved offline when needed."""

from bgan_lightning.metrics.evaluation import EvaluationCallback, TestReportCallback
from bgan_lightning.metrics.fid import SampleFID, real_statistics_path
from bgan_lightning.metrics.inception import FIDInceptionV3, build_fid, build_inception
from bgan_lightning.metrics.lpips_diversity import LPIPSDiversity, check_image_range
from bgan_lightning.metrics.lpips_net import LPIPSNet, build_lpips
from bgan_lightning.metrics.oracle import ModeOracle
from bgan_lightning.metrics.report import write_report, write_strip
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
    "EvaluationCallback",
    "LPIPSDiversity",
    "ModeOracle",
    "SampleFID",
    "TestReportCallback",
    "check_image_range",
    "real_statistics_path",
    "write_report",
    "write_strip",
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
