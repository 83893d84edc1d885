"""LPIPS diversity: the mean perceptual distance between samples drawn for the same input.

Higher is more diverse. BicycleGAN compares consecutive samples (S - 1 pairs per input); DSGAN draws random
pairs. Both read about 2.4 times lower with LPIPS version 0.0 than with 0.1, so the version is part of the
protocol and is reported next to the number.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics import Metric

log = logging.getLogger(__name__)

PairMode = Literal["consecutive", "random"]
PAIR_MODES = ("consecutive", "random")
LPIPS_NETS = ("alex", "vgg")
LPIPS_VERSIONS = ("0.1", "0.0")

# Values this far outside [-1, 1] are accepted as rounding error of a tanh output or a resize.
RANGE_TOLERANCE = 1e-3

# Smallest height and width each LPIPS backbone accepts, in pixels. AlexNet's 11x11 stride-4 convolution (padding
# 2) and its two 3x3 stride-2 max pools leave a 1x1 map only from 31 px up; VGG16's four 2x2 max pools before the
# last tapped layer need 16 px. Smaller images make the pooling fail inside the network.
LPIPS_MIN_SIZE = {"alex": 31, "vgg": 16}


def check_diversity_settings(net: str, version: str, pairs: str, trials: int) -> None:
    """Check the LPIPS backbone, LPIPS version, pair mode and trial count of a diversity measurement.

    Raises:
        ValueError: ``net`` is not in :data:`LPIPS_NETS`, ``version`` not in :data:`LPIPS_VERSIONS`, ``pairs``
            not in :data:`PAIR_MODES`, or ``trials`` is below 1.
    """
    if net not in LPIPS_NETS:
        raise ValueError(f"Invalid LPIPS net {net!r}; expected one of {LPIPS_NETS}.")
    if str(version) not in LPIPS_VERSIONS:
        raise ValueError(f"Invalid LPIPS version {version!r}; expected one of {LPIPS_VERSIONS}.")
    if pairs not in PAIR_MODES:
        raise ValueError(f"Invalid pairs {pairs!r}; expected one of {PAIR_MODES}.")
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}.")


def check_image_range(images: Tensor, name: str = "images", allow_nonnegative: bool = False) -> None:
    """Check that images follow the package's [-1, 1] float convention.

    The rule has three parts. Integer tensors such as uint8 are rejected. Float values outside
    [-1 - RANGE_TOLERANCE, 1 + RANGE_TOLERANCE] are rejected. A batch with no negative value at all is taken
    as [0, 1] data and rejected unless ``allow_nonnegative`` is set. Images in [-1, 1] from a tanh generator
    practically always contain negative values, while a [0, 1] batch never does, so this last rule catches
    the common mistake of passing ``ToTensor()`` output; a batch that truly never goes below mid-grey (an
    all-white page) needs ``allow_nonnegative=True``.

    Args:
        images: Float tensor of any shape, expected in [-1, 1].
        name: Name used in the error message.
        allow_nonnegative: Accept a batch whose values all lie in [0, 1].

    Raises:
        ValueError: On integer dtype, values out of range, or (unless allowed) a batch that looks like [0, 1].
    """
    if not torch.is_floating_point(images):
        raise ValueError(
            f"{name} must be float in [-1, 1], got dtype {images.dtype}; convert uint8 images with "
            "bgan_lightning.images.from_uint8."
        )
    if images.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(images.shape)}).")
    low, high = images.min().item(), images.max().item()
    if low < -1 - RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise ValueError(f"{name} must lie in [-1, 1], got values in [{low:.4g}, {high:.4g}]; rescale them to [-1, 1].")
    if low >= 0 and not allow_nonnegative:
        raise ValueError(
            f"{name} has no negative value (range [{low:.4g}, {high:.4g}]), which looks like [0, 1] data; map it "
            "to [-1, 1] with x * 2 - 1, or pass allow_nonnegative=True if it is [-1, 1] data that is never dark."
        )


def check_finite(samples: Tensor) -> None:
    """Raise ValueError when samples contain NaN or Inf, which would make every LPIPS distance NaN.

    Args:
        samples: Float tensor of any shape.
    """
    non_finite = int((~torch.isfinite(samples)).sum().item()) if torch.is_floating_point(samples) else 0
    if non_finite:
        raise ValueError(
            f"LPIPS diversity samples contain {non_finite} non-finite values of {samples.numel()}: the generator "
            "produced NaN/Inf; check the training run for divergence (losses, learning rate) before measuring."
        )


def check_lpips_size(samples: Tensor, net: str | None) -> None:
    """Raise ValueError when images are smaller than the LPIPS backbone ``net`` accepts (:data:`LPIPS_MIN_SIZE`).

    Args:
        samples: (..., C, H, W) images.
        net: ``"alex"``, ``"vgg"``, or None for a network of unknown size limits (no check).
    """
    minimum = LPIPS_MIN_SIZE.get(net) if net is not None else None
    height, width = samples.shape[-2:]
    if minimum is not None and min(height, width) < minimum:
        raise ValueError(
            f"Images of {height}x{width} px are too small for LPIPS with net={net!r}, which needs at least "
            f"{minimum}x{minimum} px; upsample the samples (e.g. torch.nn.functional.interpolate) or measure "
            "diversity at a larger resolution."
        )


def to_three_channels(images: Tensor) -> Tensor:
    """Repeat single-channel images to RGB: (..., 1, H, W) -> (..., 3, H, W); three channels pass through."""
    channels = images.shape[-3]
    if channels == 3:
        return images
    if channels == 1:
        return images.expand(*images.shape[:-3], 3, *images.shape[-2:])
    raise ValueError(f"Images must have 1 or 3 channels, got {channels} (shape {tuple(images.shape)}).")


def derive_seed(*parts: int) -> int:
    """Mix integers (base seed, trial, input index, ...) into one well-spread 63-bit seed."""
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 ^ int(state[1])


def sample_pairs(num_samples: int, mode: PairMode, num_pairs: int | None, generator: torch.Generator) -> Tensor:
    """Indices of the sample pairs compared for one input.

    Args:
        num_samples: Samples S of the input (at least 2).
        mode: ``"consecutive"`` gives (0, 1), (1, 2), ..., (S - 2, S - 1). ``"random"`` draws ``num_pairs``
            pairs of two different samples, uniformly and with replacement between pairs.
        num_pairs: Random pairs per input; None means S - 1, as many as consecutive pairs.
        generator: Private generator for random pairs; the global RNG is never used.

    Returns:
        (P, 2) long tensor of sample indices.
    """
    if mode == "consecutive":
        first = torch.arange(num_samples - 1)
        return torch.stack([first, first + 1], dim=1)
    count = num_samples - 1 if num_pairs is None else num_pairs
    first = torch.randint(num_samples, (count,), generator=generator)
    # An offset in [1, S - 1] guarantees the second index differs from the first.
    second = (first + torch.randint(1, num_samples, (count,), generator=generator)) % num_samples
    return torch.stack([first, second], dim=1)


class LPIPSDiversity(Metric):
    """Mean LPIPS distance between samples of the same input, as mean and standard deviation over trials.

    Each call to :meth:`update` takes S samples for each of N inputs, forms pairs of samples of the same input
    and accumulates their LPIPS distances per trial. A trial's diversity is the mean distance over all its
    pairs (every pair weighs the same); :meth:`compute` returns the mean and the standard deviation of the
    trials' diversities. States are sums synchronised across DDP ranks, so every rank computes the same value.

    Trials repeat the measurement: pass ``trial=t`` with freshly drawn samples for trial ``t`` (the evaluation
    callbacks do this), or leave ``trial=None`` to measure the same samples in every trial, which only differs
    between trials with random pairs.

    Random pairs come from a private generator seeded by ``(seed, trial, input index)``, so they never use the
    global RNG. With ``indices`` given they also do not depend on batching. Without ``indices``, inputs are
    numbered in the order this metric received them since the last reset.

    Args:
        net: LPIPS backbone, ``"alex"`` (the protocol's default) or ``"vgg"``.
        version: LPIPS calibration, ``"0.1"`` or ``"0.0"`` (BicycleGAN's and DSGAN's published numbers).
        pairs: ``"consecutive"`` (S - 1 pairs per input, BicycleGAN) or ``"random"`` (DSGAN).
        num_pairs: Random pairs per input; None means S - 1. Ignored for consecutive pairs.
        trials: Repeated trials T for the standard deviation.
        seed: Seed of the random pairs.
        lpips: A built LPIPS module mapping two (B, 3, H, W) batches in [-1, 1] to B distances (any shape with
            B elements). None builds ``build_lpips(net, version)`` from the resolved offline-capable weights. A
            module with a ``net`` attribute of ``"alex"`` or ``"vgg"`` gets its images checked against
            :data:`LPIPS_MIN_SIZE`.
        pair_batch_size: Pairs sent through the network at once; bounds memory.
        allow_nonnegative: Accept samples without negative values (see :func:`check_image_range`).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        net: str = "alex",
        version: str = "0.1",
        pairs: PairMode = "consecutive",
        num_pairs: int | None = None,
        trials: int = 1,
        seed: int = 0,
        lpips: nn.Module | None = None,
        pair_batch_size: int = 64,
        allow_nonnegative: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        check_diversity_settings(net, version, pairs, trials)
        if num_pairs is not None and num_pairs < 1:
            raise ValueError(f"num_pairs must be at least 1 or None, got {num_pairs}.")
        if pair_batch_size < 1:
            raise ValueError(f"pair_batch_size must be at least 1, got {pair_batch_size}.")
        self.net = net
        self.version = str(version)
        self.pairs = pairs
        self.num_pairs = num_pairs
        self.trials = trials
        self.seed = seed
        self.pair_batch_size = pair_batch_size
        self.allow_nonnegative = allow_nonnegative

        if lpips is None:
            from bgan_lightning.metrics.lpips_net import build_lpips

            lpips = build_lpips(net=net, version=self.version)
        self.lpips = lpips.eval().requires_grad_(False)
        self._generator = torch.Generator()
        self._inputs_received = 0

        self.add_state("distance_sum", torch.zeros(trials, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("pair_count", torch.zeros(trials, dtype=torch.long), dist_reduce_fx="sum")

    def train(self, mode: bool = True) -> LPIPSDiversity:
        """Keep the LPIPS network in eval mode whatever mode the owner switches to."""
        super().train(mode)
        self.lpips.eval()
        return self

    @torch.no_grad()
    def update(self, samples: Tensor, trial: int | None = None, indices: Sequence[int] | None = None) -> None:
        """Accumulate the LPIPS distances between pairs of samples of each input.

        Args:
            samples: (N, S, C, H, W) finite, in [-1, 1], with C of 1 or 3, S >= 2, and H and W at least
                ``LPIPS_MIN_SIZE[net]`` for a built LPIPS network.
            trial: Trial these samples belong to, in [0, trials); None adds them to every trial.
            indices: Global index of each of the N inputs in the split. It seeds the random pairs, so they do
                not depend on batching or on the DDP rank.

        Raises:
            ValueError: On a wrong shape, trial or index count, non-finite values, values outside [-1, 1], or
                images smaller than the LPIPS backbone accepts.
        """
        if samples.dim() != 5:
            raise ValueError(f"samples must be (N, S, C, H, W), got shape {tuple(samples.shape)}.")
        num_inputs, num_samples = samples.shape[:2]
        if num_samples < 2:
            raise ValueError(f"LPIPS diversity needs at least 2 samples per input, got {num_samples}.")
        if trial is not None and not 0 <= trial < self.trials:
            raise ValueError(f"trial must be in [0, {self.trials}), got {trial}.")
        if indices is not None and len(indices) != num_inputs:
            raise ValueError(f"Got {len(indices)} indices for {num_inputs} inputs; pass one per input.")
        check_finite(samples)
        check_image_range(samples, "LPIPS diversity samples", self.allow_nonnegative)
        check_lpips_size(samples, getattr(self.lpips, "net", None))
        samples = to_three_channels(samples)

        if indices is None:
            indices = range(self._inputs_received, self._inputs_received + num_inputs)
        self._inputs_received += num_inputs
        trials = range(self.trials) if trial is None else [trial]

        for t in trials:
            # Gather (input, first, second) triples of the trial, then run the network on them in chunks.
            triples = []
            for n, index in enumerate(indices):
                self._generator.manual_seed(derive_seed(self.seed, t, index))
                pairs = sample_pairs(num_samples, self.pairs, self.num_pairs, self._generator)
                triples.append(torch.cat([torch.full((len(pairs), 1), n), pairs], dim=1))
            triples = torch.cat(triples).to(samples.device)
            for chunk in triples.split(self.pair_batch_size):
                first = samples[chunk[:, 0], chunk[:, 1]]
                second = samples[chunk[:, 0], chunk[:, 2]]
                distances = self.lpips(first, second).reshape(len(chunk))
                self.distance_sum[t] += distances.double().sum()
                self.pair_count[t] += len(chunk)

    def compute(self) -> dict[str, Tensor]:
        """Return ``{"mean", "std", "trials"}``.

        ``trials`` contains each trial's mean distance (T,). ``mean`` is their mean and ``std`` their unbiased
        standard deviation (0 for a single trial). All are float64 scalars or vectors on the metric's device.
        """
        if bool((self.pair_count == 0).any()):
            empty = (self.pair_count == 0).nonzero().flatten().tolist()
            raise RuntimeError(f"LPIPS diversity has no pairs for trials {empty}; call update() for every trial first.")
        per_trial = self.distance_sum / self.pair_count
        std = per_trial.std() if self.trials > 1 else torch.zeros((), dtype=per_trial.dtype, device=per_trial.device)
        return {"mean": per_trial.mean(), "std": std, "trials": per_trial}

    def reset(self) -> None:
        """Clear the accumulated distances and restart input numbering for random pairs."""
        super().reset()
        self._inputs_received = 0
