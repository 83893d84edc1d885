"""Generators as a chain of stages, so that many samples per input share the deterministic prefix.

A generator that subclasses :class:`StagedGenerator` lists its computation as :class:`Stage` objects that
pass a state (a tensor, or a tuple of tensors and nested tuples, such as U-Net skip connections) from one to
the next. ``forward`` runs every stage on the batch. ``sample`` runs the stages before the first one that
contains a stochastic layer once per input, repeats the state ``num_samples`` times (``repeat_interleave``, so
sample ``s`` of input ``b`` sits at row ``b * S + s``) and runs the rest on those B * S rows, all at once or in
chunks of rows. Stochastic layers get the latents that a forward pass on repeated inputs would draw, whatever
the chunk size, so under :func:`bgan_lightning.nn.latent_control` with a seed

    G.sample(A, S, seed=k) == latent_control(G, seed=k): G(A.repeat_interleave(S, 0)).view(B, S, ...)

up to float rounding. Two exceptions: dropout in the shared prefix draws one mask per input instead of one
per sample in training mode, and batch norm in training mode updates its running variance with a slightly
different unbiased correction. In eval mode both agree exactly.

Which stages are stochastic is looked up on every call, so a network converted after construction (for
example by :func:`bgan_lightning.nn.basisify`) still shares exactly its deterministic prefix.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from bgan_lightning.nn import LatentSource, StochasticModule, latent_control, stochastic_modules
from bgan_lightning.nn.latent import check_seed, use_latent_source

State = Any  # a Tensor, or a tuple of States


class Stage(NamedTuple):
    """One step of a staged generator.

    Attributes:
        run: Maps the state to the next state.
        modules: The modules that ``run`` uses; the stage is stochastic if any of them contains a
            :class:`bgan_lightning.nn.StochasticModule`.
    """

    run: Callable[[State], State]
    modules: tuple[nn.Module, ...]


def is_stochastic(stage: Stage) -> bool:
    """Return whether ``stage`` draws latents."""
    return any(isinstance(m, StochasticModule) for module in stage.modules for m in module.modules())


def repeat_state(state: State, num_samples: int) -> State:
    """Repeat every tensor of ``state`` ``num_samples`` times along the batch (``repeat_interleave``).

    With ``num_samples == 1`` the state is returned as it is, so a forward pass copies nothing.
    """
    if num_samples == 1:
        return state
    if isinstance(state, Tensor):
        return state.repeat_interleave(num_samples, dim=0)
    return tuple(repeat_state(item, num_samples) for item in state)


def slice_state(state: State, start: int, stop: int) -> State:
    """Take rows ``start:stop`` of every tensor of ``state``."""
    if isinstance(state, Tensor):
        return state[start:stop]
    return tuple(slice_state(item, start, stop) for item in state)


def first_stochastic(stages: Sequence[Stage]) -> int:
    """Return the index of the first stochastic stage, or ``len(stages)`` if none is stochastic."""
    return next((index for index, stage in enumerate(stages) if is_stochastic(stage)), len(stages))


def run_stages(stages: Sequence[Stage], x: Tensor, num_samples: int = 1) -> Tensor:
    """Run ``stages`` on ``x``, repeating the state ``num_samples`` times just before the first stochastic stage.

    Args:
        stages: The generator's stages in execution order.
        x: (B, C, H, W) input.
        num_samples: Samples S per input; 1 runs a plain forward pass.

    Returns:
        (B * S, C_out, H_out, W_out); rows b * S .. b * S + S - 1 belong to input b.
    """
    split = first_stochastic(stages)
    state = repeat_state(_run(stages[:split], x), num_samples)
    return _run(stages[split:], state)


def _run(stages: Sequence[Stage], state: State) -> State:
    for stage in stages:
        state = stage.run(state)
    return state


class ChunkedLatents:
    """Latents for a pass over ``rows`` rows that runs in chunks, equal to those of one pass over all rows.

    During the first chunk, every draw of a stochastic layer takes the latents of all rows from ``source`` and
    keeps them. Later chunks replay the kept draws in the same order. The layers must draw in the same order
    in every chunk, which holds for a network whose control flow does not depend on the data.

    Args:
        source: The latent source of the enclosing :func:`bgan_lightning.nn.latent_control` block.
        rows: Rows of the whole pass.
    """

    def __init__(self, source: LatentSource, rows: int) -> None:
        self.source = source
        self.rows = rows
        self._draws: list[Tensor] = []
        self._first_chunk = True
        self._call = 0
        self._start = 0

    def start_chunk(self, start: int) -> None:
        """Begin the chunk whose first row is ``start``."""
        self._first_chunk = not self._draws and start == 0
        self._call = 0
        self._start = start

    def draw(self, batch_size: int, latent_dim: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """Return the latents (batch_size, latent_dim) of the current chunk's rows for the next layer."""
        if self._first_chunk:
            self._draws.append(self.source.draw(self.rows, latent_dim, device, dtype))
        if self._call >= len(self._draws) or self._draws[self._call].shape[1] != latent_dim:
            raise RuntimeError(
                f"The stochastic layers drew latents in another order than in the first chunk; pass a chunk_size "
                f"of at least {self.rows} to run all rows at once."
            )
        z = self._draws[self._call][self._start : self._start + batch_size]
        self._call += 1
        return z


@contextlib.contextmanager
def chunked_latents(model: nn.Module, source: LatentSource, rows: int) -> Iterator[ChunkedLatents]:
    """Make every stochastic layer of ``model`` draw from a :class:`ChunkedLatents` inside a ``with`` block."""
    chunked = ChunkedLatents(source, rows)
    with use_latent_source([module for _, module in stochastic_modules(model)], chunked):
        yield chunked


def check_count(name: str, value: object) -> None:
    """Raise unless ``value`` is a positive integer: a TypeError for other types, a ValueError below 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r} of type {type(value).__name__}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}.")


def default_chunk_size(batch_size: int, rows: int, device: torch.device) -> int:
    """Return the rows per chunk that ``sample`` uses when none is given.

    On the CPU it is the input batch size, so that the layers after the shared prefix run at the batch size of
    a forward pass. In this project's benchmark on a 2-core CPU, a BasisGAN ResNet-9 at 256x256 took about
    1.25x as long on one batch of ten rows as on ten single rows (BENCHMARKS.md). On other devices, where a
    larger batch usually uses the device better, all rows run at once.
    NOTE: the CPU default comes from that one machine and network, and at 64x64 one batch was faster there;
    pass ``chunk_size`` where another is faster.
    """
    return batch_size if device.type == "cpu" else rows


class StagedGenerator(nn.Module):
    """Base class of the generators: ``forward`` and ``sample`` both run :meth:`stages`.

    Subclasses set ``input_nc`` and ``output_nc``, implement :meth:`stages` and :meth:`check_input`.
    """

    input_nc: int
    output_nc: int

    def stages(self) -> list[Stage]:
        """Return the computation as stages, in execution order."""
        raise NotImplementedError

    def check_input(self, x: Tensor) -> None:
        """Raise ValueError if ``x`` has the wrong shape for this network."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Generate one image per input: (B, input_nc, H, W) -> (B, output_nc, H, W) in [-1, 1]."""
        self.check_input(x)
        return run_stages(self.stages(), x)

    def sample(
        self,
        condition: Tensor,
        num_samples: int,
        seed: int | None = None,
        chunk_size: int | None = None,
        shared: bool = False,
    ) -> Tensor:
        """Draw ``num_samples`` images per input, sharing the layers before the first stochastic layer.

        Args:
            condition: (B, input_nc, H, W) in [-1, 1].
            num_samples: Samples S per input.
            seed: Seed of the latents (see :func:`bgan_lightning.nn.latent_control`); None draws from the
                global RNG.
            chunk_size: Rows of the B * S samples that run through the layers after the shared prefix at once.
                It bounds memory and, in eval mode, changes no output. None takes :func:`default_chunk_size`:
                B on the CPU, all rows elsewhere. NOTE: in training mode, dropout and batch norm after the
                prefix see each chunk on its own, so the output depends on the chunk size there, and
                ``last_latents`` returns the last chunk's latents only.
            shared: Give every stochastic layer the same latent per sample, as the BasisGAN + DSGAN variant is
                trained. This method sets the latents itself, so an enclosing :func:`latent_control` block
                has no effect on it.

        Returns:
            (B, S, output_nc, H, W) in [-1, 1].
        """
        check_count("num_samples", num_samples)
        if chunk_size is not None:
            check_count("chunk_size", chunk_size)
        seed = check_seed(seed)
        self.check_input(condition)

        stages = self.stages()
        split = first_stochastic(stages)
        rows = condition.shape[0] * num_samples
        if chunk_size is None:
            chunk_size = default_chunk_size(condition.shape[0], rows, condition.device)
        if split == len(stages):
            # Without stochastic layers every sample is the same image, and no latents are drawn.
            out = repeat_state(_run(stages, condition), num_samples)
            return out.view(condition.shape[0], num_samples, *out.shape[1:])
        with latent_control(self, seed=seed, shared=shared) as source:
            state = repeat_state(_run(stages[:split], condition), num_samples)
            if chunk_size >= rows:
                out = _run(stages[split:], state)
            else:
                outputs = []
                with chunked_latents(self, source, rows) as latents:
                    for start in range(0, rows, chunk_size):
                        latents.start_chunk(start)
                        outputs.append(_run(stages[split:], slice_state(state, start, start + chunk_size)))
                out = torch.cat(outputs)
        return out.view(condition.shape[0], num_samples, *out.shape[1:])
