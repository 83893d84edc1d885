"""Generators as a chain of stages, so that many samples per input share the deterministic prefix.

A generator that subclasses :class:`StagedGenerator` lists its computation as :class:`Stage` objects that
pass a state (a tensor, or a tuple of tensors and nested tuples, such as U-Net skip connections) from one to
the next. ``forward`` runs every stage on the batch. ``sample`` runs the stages before the first one that
contains a stochastic layer once per input, repeats the state ``num_samples`` times (``repeat_interleave``, so
sample ``s`` of input ``b`` sits at row ``b * S + s``) and runs the rest on the whole batch of samples.
Stochastic layers draw their latents in the same order and with the same number of rows as a forward pass
on repeated inputs would, so under :func:`bgan_lightning.nn.latent_control` with a seed

    G.sample(A, S, seed=k) == latent_control(G, seed=k): G(A.repeat_interleave(S, 0)).view(B, S, ...)

up to float rounding. Two exceptions: dropout in the shared prefix draws one mask per input instead of one
per sample in training mode, and batch norm in training mode updates its running variance with a slightly
different unbiased correction. In eval mode both agree exactly.

Which stages are stochastic is looked up on every call, so a network converted after construction (for
example by :func:`bgan_lightning.nn.basisify`) still shares exactly its deterministic prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from torch import Tensor, nn

from bgan_lightning.nn import StochasticModule, latent_control

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
    """Repeat every tensor of ``state`` ``num_samples`` times along the batch (``repeat_interleave``)."""
    if isinstance(state, Tensor):
        return state.repeat_interleave(num_samples, dim=0)
    return tuple(repeat_state(item, num_samples) for item in state)


def run_stages(stages: Sequence[Stage], x: Tensor, num_samples: int = 1) -> Tensor:
    """Run ``stages`` on ``x``, repeating the state ``num_samples`` times just before the first stochastic stage.

    Args:
        stages: The generator's stages in execution order.
        x: (B, C, H, W) input.
        num_samples: Samples S per input; 1 runs a plain forward pass.

    Returns:
        (B * S, C_out, H_out, W_out); rows b * S .. b * S + S - 1 belong to input b.
    """
    state: State = x
    repeated = num_samples == 1
    for stage in stages:
        if not repeated and is_stochastic(stage):
            state = repeat_state(state, num_samples)
            repeated = True
        state = stage.run(state)
    if not repeated:
        state = repeat_state(state, num_samples)
    return state


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

    def sample(self, condition: Tensor, num_samples: int, seed: int | None = None) -> Tensor:
        """Draw ``num_samples`` images per input, sharing the layers before the first stochastic layer.

        Args:
            condition: (B, input_nc, H, W) in [-1, 1].
            num_samples: Samples S per input.
            seed: Seed of the latents (see :func:`bgan_lightning.nn.latent_control`); None draws from the
                global RNG.

        Returns:
            (B, S, output_nc, H, W) in [-1, 1].
        """
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}.")
        self.check_input(condition)

        with latent_control(self, seed=seed):
            out = run_stages(self.stages(), condition, num_samples)
        return out.view(condition.shape[0], num_samples, *out.shape[1:])
