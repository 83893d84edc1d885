"""Lightning callbacks: sample grids during training and sample files during prediction."""

from bgan_lightning.callbacks.prediction_writer import SamplePredictionWriter
from bgan_lightning.callbacks.sample_grid import SampleGridCallback

__all__ = ["SampleGridCallback", "SamplePredictionWriter"]
