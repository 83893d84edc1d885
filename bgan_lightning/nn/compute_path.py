"""Choice between exact compute paths of a layer by a short timing, cached per shape, device and dtype.

A stochastic basis convolution can run as one grouped convolution with per-sample filters or as a depthwise
convolution with the bases followed by a 1x1 convolution with the coefficients. Which one is faster depends
on the shape, the device and the convolution backend, so ``compute="auto"`` times both once on the first
input of each shape and keeps the faster one for the rest of the process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

COMPUTE_PATHS = ("grouped", "decomposed")
COMPUTE_OPTIONS = ("auto", *COMPUTE_PATHS)

SWITCH_MARGIN = 0.10
EARLY_STOP_FACTOR = 1.5

_CHOICES: dict[Hashable, str] = {}


def check_compute(compute: str) -> str:
    """Return ``compute`` if it is a known option, else raise a ValueError naming the options."""
    if compute not in COMPUTE_OPTIONS:
        raise ValueError(f"Invalid compute={compute!r}; expected one of {COMPUTE_OPTIONS}.")
    return compute


def clear_compute_choices() -> None:
    """Forget every cached choice, so that the next forward pass of each shape measures again."""
    _CHOICES.clear()


def compute_choices() -> dict[Hashable, str]:
    """Return a copy of the cached choices, keyed by (layer shape, input shape, device, dtype, autocast)."""
    return dict(_CHOICES)


def autocast_state(device: torch.device) -> tuple[bool, torch.dtype | None]:
    """Return whether autocast is on for ``device``'s type and the dtype it casts to."""
    if not torch.is_autocast_enabled(device.type):
        return False, None
    return True, torch.get_autocast_dtype(device.type)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_paths(runners: dict[str, Callable[[], Tensor]], device: torch.device, repeats: int = 5) -> dict[str, float]:
    """Time each runner up to ``repeats`` times after one warm-up call, interleaved; return the fastest in seconds.

    Timing stops after two rounds when the second-fastest path is already ``EARLY_STOP_FACTOR`` (1.5) times
    slower than the fastest.

    The fastest call is used rather than the median because other processes can only add time, so with few
    calls the minimum is the steadier estimate of a path's cost.

    Args:
        runners: Path name to a callable that computes the layer output without recording gradients.
        device: Device the runners compute on (CUDA is synchronised around each call).
        repeats: Timed calls per runner.

    Returns:
        Path name to the fastest time of one call.
    """
    timings: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():
        run()
    for round_index in range(repeats):
        for name, run in runners.items():
            _synchronize(device)
            start = time.perf_counter()
            run()
            _synchronize(device)
            timings[name].append(time.perf_counter() - start)

        # Stop early once every other path is clearly slower than the fastest one: more calls cannot change that.
        fastest = {name: min(values) for name, values in timings.items()}
        ordered = sorted(fastest.values())
        if round_index >= 1 and len(ordered) > 1 and ordered[1] > EARLY_STOP_FACTOR * ordered[0]:
            break
    return {name: min(values) for name, values in timings.items()}


def choose_path(key: Hashable, runners: dict[str, Callable[[], Tensor]], device: torch.device) -> str:
    """Return the cached choice for ``key``, measuring the runners the first time ``key`` is seen.

    The runners compute on the real input under ``torch.no_grad()`` and draw no random numbers, so measuring
    does not change the global RNG. When deterministic algorithms are enabled, or while tracing or compiling,
    the first path is returned without measuring, so that every run takes the same path.

    Args:
        key: Hashable description of everything the timing depends on.
        runners: Path name to a callable that computes the layer output; the first entry is the fallback.
        device: Device the runners compute on.

    Returns:
        The name of the faster path. Another path must beat the first entry by more than ``SWITCH_MARGIN``
        (10 %), so that timing noise does not move a layer off the fallback for no real gain.
    """
    fallback = next(iter(runners))
    if torch.are_deterministic_algorithms_enabled() or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return fallback
    choice = _CHOICES.get(key)
    if choice is None:
        with torch.no_grad():
            seconds = measure_paths(runners, device)
        limit = seconds[fallback] / (1.0 + SWITCH_MARGIN)
        faster = {name: value for name, value in seconds.items() if value < limit}
        choice = min(faster, key=faster.get) if faster else fallback
        _CHOICES[key] = choice
        logger.debug("Compute path %s for %s (fastest seconds %s).", choice, key, seconds)
    return choice
