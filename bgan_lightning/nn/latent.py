"""Latent control for stochastic layers: seeded sampling, per-batch latents, shared latents, recording.

Every stochastic layer draws its own latent ``z`` on each forward pass. By default it draws one latent per
sample from the global RNG, which is what training wants. :func:`latent_control` changes that for every
stochastic layer inside any ``nn.Module`` without touching the module's ``forward`` signature, so it works
on third-party networks converted by :func:`bgan_lightning.nn.basisify` too:

    with latent_control(generator, seed=0):
        fake = generator(condition)          # reproducible, global RNG untouched
    latents = last_latents(generator)        # {layer name: (B, latent_dim)}
"""

from __future__ import annotations

import contextlib
import logging
import numbers
from collections.abc import Iterator
from typing import Literal

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

LatentPolicy = Literal["per_sample", "per_batch"]
LATENT_POLICIES = ("per_sample", "per_batch")


def check_seed(seed: object) -> int | None:
    """Return ``seed`` as a Python int (or None), accepting NumPy integers and 0-d integer tensors and arrays.

    Raises:
        TypeError: If ``seed`` is not an integer, for example a float, a string or a bool.
        ValueError: If ``seed`` is outside the range that ``torch.Generator.manual_seed`` takes.
    """
    if seed is None:
        return None
    if getattr(seed, "ndim", None) == 0 and hasattr(seed, "item"):
        seed = seed.item()  # A 0-d tensor or NumPy array.
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"A seed must be an integer or None, got {seed!r} of type {type(seed).__name__}.")
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"A seed must lie in [-2**63, 2**64), as torch.Generator.manual_seed needs, got {seed}.")
    return int(seed)


class LatentSource:
    """Where stochastic layers take their latents from inside a :func:`latent_control` block.

    Args:
        seed: Seed of a private CPU ``torch.Generator``. ``None`` draws from the global RNG.
        policy: ``"per_sample"`` gives every sample of a batch its own latent, ``"per_batch"`` one latent
            shared by the whole batch.
        shared: If True, all layers use the same latent for a given sample (the BasisGAN+DSGAN variant,
            where a diversity regularizer relates output distance to one latent distance). Layers with a
            smaller ``latent_dim`` take the leading entries.
        latents: Explicit latents of shape (B, D) used by every layer (implies ``shared``), where D is at
            least the largest ``latent_dim`` of the layers.
    """

    def __init__(
        self,
        seed: int | None = None,
        policy: LatentPolicy = "per_sample",
        shared: bool = False,
        latents: Tensor | None = None,
    ) -> None:
        if policy not in LATENT_POLICIES:
            raise ValueError(f"Invalid latent policy {policy!r}; expected one of {LATENT_POLICIES}.")
        if latents is not None and latents.dim() != 2:
            raise ValueError(f"Explicit latents must have shape (B, latent_dim), got {tuple(latents.shape)}.")
        self.policy = policy
        self.shared = shared or latents is not None
        self.latents = latents
        seed = check_seed(seed)
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self._shared_cache: dict[int, Tensor] = {}

    def start_pass(self) -> None:
        """Forget the shared latents of the previous forward pass, so that the next pass draws new ones."""
        self._shared_cache.clear()

    def _randn(self, rows: int, dim: int) -> Tensor:
        # Latents are drawn on the CPU so that a seed gives the same values on every device.
        return torch.randn(rows, dim, generator=self.generator)

    def draw(self, batch_size: int, latent_dim: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """Draw latents of shape (batch_size, latent_dim) for one layer."""
        if self.latents is not None:
            z = self.latents
            if z.shape[0] != batch_size or z.shape[1] < latent_dim:
                raise ValueError(
                    f"Explicit latents have shape {tuple(z.shape)} but a layer needs ({batch_size}, >= {latent_dim}); "
                    "pass one row per sample and at least as many columns as the largest latent_dim."
                )
            return z[:, :latent_dim].to(device=device, dtype=dtype)

        rows = 1 if self.policy == "per_batch" else batch_size
        if self.shared:
            cached = self._shared_cache.get(rows)
            if cached is None:
                cached = self._randn(rows, latent_dim)
            elif cached.shape[1] < latent_dim:
                # Widen with new columns so that layers with a smaller latent_dim keep their leading entries.
                cached = torch.cat([cached, self._randn(rows, latent_dim - cached.shape[1])], dim=1)
            self._shared_cache[rows] = cached
            z = cached[:, :latent_dim]
        else:
            z = self._randn(rows, latent_dim)

        # Rows are moved before they are expanded, so a per-batch latent stays a stride-0 view that layers can
        # recognise and serve with one set of filters for the whole batch.
        return z.to(device=device, dtype=dtype).expand(batch_size, latent_dim)


class StochasticModule(nn.Module):
    """Base class of layers that draw a latent ``z`` on every forward pass.

    Subclasses call :meth:`draw_latent` at the start of ``forward``. The latent of the last forward pass is
    kept in ``last_latent`` (detached) for diversity regularizers and latent interpolation.

    Args:
        latent_dim: Size of the latent ``z`` drawn from N(0, I).
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim}.")
        self.latent_dim = latent_dim
        self.latent_source: LatentSource | None = None
        self.last_latent: Tensor | None = None

    def draw_latent(self, batch_size: int, reference: Tensor, z: Tensor | None = None) -> Tensor:
        """Return the latents (batch_size, latent_dim) for this forward pass.

        Args:
            batch_size: Number of samples B in the batch.
            reference: A tensor whose device and floating dtype the latents must match (usually a weight).
            z: Explicit latents of shape (B, latent_dim) or (latent_dim,), or None to draw them.

        Raises:
            ValueError: If ``z`` has the wrong shape.
            RuntimeError: If ``z`` is on another device or has another dtype than the layer.
        """
        if z is not None:
            z = self._check_latent(z, batch_size, reference)
        elif self.latent_source is not None:
            z = self.latent_source.draw(batch_size, self.latent_dim, reference.device, reference.dtype)
        else:
            z = torch.randn(batch_size, self.latent_dim, device=reference.device, dtype=reference.dtype)
        self.last_latent = z.detach()
        return z

    @staticmethod
    def distinct_latents(z: Tensor) -> Tensor:
        """Return ``z`` (B, D), or its first row (1, D) when every row is the same view (per-batch latents).

        Layers use this to build one set of filters for the whole batch, which is exact and faster.
        """
        if z.shape[0] == 1 or z.stride(0) == 0:
            return z[:1]
        return z

    def _check_latent(self, z: Tensor, batch_size: int, reference: Tensor) -> Tensor:
        if z.dim() == 1:
            z = z.unsqueeze(0).expand(batch_size, -1)
        if z.dim() != 2 or z.shape != (batch_size, self.latent_dim):
            raise ValueError(
                f"{type(self).__name__} expects latents of shape ({batch_size}, {self.latent_dim}) "
                f"or ({self.latent_dim},), got {tuple(z.shape)}; pass one row of latent_dim values per sample."
            )
        if z.device != reference.device:
            raise RuntimeError(
                f"Latents are on {z.device} but {type(self).__name__} is on {reference.device}; "
                f"move them with z.to({str(reference.device)!r})."
            )
        if z.dtype != reference.dtype:
            raise RuntimeError(
                f"Latents have dtype {z.dtype} but {type(self).__name__} has {reference.dtype}; "
                f"convert them with z.to({reference.dtype})."
            )
        return z


def stochastic_modules(model: nn.Module) -> list[tuple[str, StochasticModule]]:
    """List the (qualified name, module) pairs of every stochastic layer in ``model``, in registration order."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, StochasticModule)]


@contextlib.contextmanager
def latent_control(
    model: nn.Module,
    seed: int | None = None,
    policy: LatentPolicy = "per_sample",
    shared: bool = False,
    latents: Tensor | None = None,
) -> Iterator[LatentSource]:
    """Control how every stochastic layer of ``model`` draws its latents inside a ``with`` block.

    Layers draw in the order they run, so the same seed, input and weights give the same output, and the
    global RNG is left untouched. With ``shared=True`` every call of ``model`` draws one new latent per sample
    that all its layers use. Settings of an enclosing block are restored on exit.

    Args:
        model: Any module containing stochastic layers.
        seed: Seed of the private generator, or None for the global RNG.
        policy: ``"per_sample"`` (default) or ``"per_batch"``.
        shared: If True, all layers use one latent per sample.
        latents: Explicit latents (B, D) for every layer.

    Yields:
        The :class:`LatentSource` in effect.
    """
    source = LatentSource(seed=seed, policy=policy, shared=shared, latents=latents)
    layers = [module for _, module in stochastic_modules(model)]
    if not layers:
        log.warning("%s has no stochastic layers, so latent_control has no effect on it.", type(model).__name__)
    hook = model.register_forward_pre_hook(lambda module, args: source.start_pass())
    try:
        with use_latent_source(layers, source):
            yield source
    finally:
        hook.remove()


@contextlib.contextmanager
def use_latent_source(layers: list[StochasticModule], source: object) -> Iterator[None]:
    """Make ``layers`` draw from ``source`` inside a ``with`` block and restore their sources on exit.

    Args:
        layers: Stochastic layers, for example those of :func:`stochastic_modules`.
        source: A :class:`LatentSource`, or any object with its ``draw`` method.
    """
    previous = [layer.latent_source for layer in layers]
    for layer in layers:
        layer.latent_source = source
    try:
        yield
    finally:
        for layer, old in zip(layers, previous):
            layer.latent_source = old


def last_latents(model: nn.Module) -> dict[str, Tensor]:
    """Return the latents each stochastic layer of ``model`` used in its last forward pass, by layer name."""
    return {name: module.last_latent for name, module in stochastic_modules(model) if module.last_latent is not None}
