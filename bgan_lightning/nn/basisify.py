"""Plug-and-play conversion: replace selected convolutions of any network by stochastic basis convolutions.

    report = basisify(generator, preset="resnet_alternate")
    print(report)  # replaced layers, parameters before and after, fit errors, skipped layers

With ``init_from_weights=True`` (the default) a trained deterministic network keeps what it learned. Every
filter bank W (C_out, C_in, kh, kw) is flattened to a (C_out * C_in, kh * kw) matrix, and SVD gives its best
rank-K fit U_K S_K V_K^T. The coefficients become ``a = U_K S_K`` (C_out, C_in, K) and the rows of V_K^T
become a learned mean basis (K, kh, kw). The basis generator then adds its sampled part around that mean,
``psi(z) = mean_basis + T(z)``, with T's output layer scaled so that T(z) starts with ``noise_scale`` times the
root mean square of the mean basis. A converted layer therefore starts as the original filter bank (up to the
rank-K fit error, reported per layer) plus a small random perturbation that fine-tuning can grow.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from bgan_lightning.nn.latent import StochasticModule
from bgan_lightning.nn.stochastic_conv import StochasticBasisConv2d
from bgan_lightning.nn.stochastic_conv_transpose import StochasticBasisConvTranspose2d

PRESETS = ("all", "resnet_alternate")
RESIDUAL_BLOCK_CLASS = "ResnetBlock"
CONVERTIBLE = (nn.Conv2d, nn.ConvTranspose2d)


@dataclass
class ConvertedLayer:
    """One replaced convolution.

    Attributes:
        name: Qualified module name in the model.
        source: Class name of the replaced module.
        target: Class name of the stochastic module.
        params_before: Parameters of the replaced module.
        params_after: Parameters of the stochastic module.
        relative_error: ||W - W_K||_F / ||W||_F of the rank-K fit, or None without ``init_from_weights``.
    """

    name: str
    source: str
    target: str
    params_before: int
    params_after: int
    relative_error: float | None


@dataclass
class SkippedLayer:
    """One selected convolution that was left as it is, with the reason."""

    name: str
    source: str
    reason: str


@dataclass
class BasisifyReport:
    """Summary of a :func:`basisify` call: replaced layers, skipped layers and parameter counts of the model."""

    replaced: list[ConvertedLayer] = field(default_factory=list)
    skipped: list[SkippedLayer] = field(default_factory=list)
    params_before: int = 0
    params_after: int = 0

    @property
    def replaced_names(self) -> list[str]:
        """Qualified names of the replaced modules, in model order."""
        return [layer.name for layer in self.replaced]

    def __str__(self) -> str:
        lines = [
            f"basisify: replaced {len(self.replaced)} layer(s), skipped {len(self.skipped)}; "
            f"parameters {self.params_before:,} -> {self.params_after:,} "
            f"({self.params_after - self.params_before:+,})"
        ]
        if self.replaced:
            header = ("layer", "from", "to", "params before", "params after", "fit error")
            rows = [
                (
                    layer.name,
                    layer.source,
                    layer.target,
                    f"{layer.params_before:,}",
                    f"{layer.params_after:,}",
                    "-" if layer.relative_error is None else f"{layer.relative_error:.4f}",
                )
                for layer in self.replaced
            ]
            lines += _table(header, rows)
        if self.skipped:
            lines.append("skipped (left unchanged):")
            lines += _table(("layer", "type", "reason"), [(s.name, s.source, s.reason) for s in self.skipped])
        return "\n".join(lines)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip()

    return [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]


def _count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def _preset_names(model: nn.Module, preset: str) -> set[str]:
    """Return the names of the convolutions that ``preset`` selects (stochastic ones included, to be skipped)."""
    if preset not in PRESETS:
        raise ValueError(f"Invalid preset {preset!r}; expected one of {PRESETS}.")
    if preset == "all":
        return {name for name, module in model.named_modules() if isinstance(module, CONVERTIBLE)}

    selected = set()
    for block_name, block in model.named_modules():
        if type(block).__name__ != RESIDUAL_BLOCK_CLASS:
            continue
        convs = [
            name
            for name, module in block.named_modules()
            if isinstance(module, (*CONVERTIBLE, StochasticBasisConv2d, StochasticBasisConvTranspose2d))
        ]
        if len(convs) >= 2:
            selected.add(f"{block_name}.{convs[1]}" if block_name else convs[1])
    if not selected:
        raise ValueError(
            f"preset='resnet_alternate' found no module of class {RESIDUAL_BLOCK_CLASS} with two convolutions in "
            f"{type(model).__name__}; select layers with include=[...] name patterns or a predicate instead."
        )
    return selected


def _reason_to_skip(module: nn.Module) -> str | None:
    """Return why ``module`` cannot be converted exactly, or None if it can."""
    if isinstance(module, StochasticModule):
        return "already stochastic"
    if type(module) not in CONVERTIBLE:
        base = "nn.Conv2d" if isinstance(module, nn.Conv2d) else "nn.ConvTranspose2d"
        return f"subclass of {base} whose forward may differ"
    if isinstance(module.weight, nn.parameter.UninitializedParameter):
        return "weights not initialised yet (lazy module); run one forward pass first"
    if module.groups != 1:
        return f"groups={module.groups} (stochastic convs support groups=1 only)"
    if isinstance(module.padding, str):
        return f"padding={module.padding!r} (pass explicit integer padding)"
    if module._forward_hooks or module._forward_pre_hooks or hasattr(module, "parametrizations"):
        return "has hooks or parametrizations (e.g. spectral norm) that a replacement would drop"
    return None


def low_rank_fit(weight: Tensor, num_bases: int) -> tuple[Tensor, Tensor, float]:
    """Fit a filter bank by K coefficients per filter and K shared spatial bases, by SVD.

    Args:
        weight: Filter bank (C_a, C_b, kh, kw); for ``nn.Conv2d`` C_a = C_out, for ``nn.ConvTranspose2d`` C_a = C_in.

    Returns:
        ``coefficients`` (C_a, C_b, K), ``bases`` (K, kh, kw) with orthonormal rows and the relative error
        ||W - sum_k a_k psi_k||_F / ||W||_F. When K exceeds kh * kw the extra coefficients and bases are zero.
    """
    out_dim, in_dim, kh, kw = weight.shape
    matrix = weight.detach().double().reshape(out_dim * in_dim, kh * kw)
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    rank = min(num_bases, s.numel())

    coefficients = torch.zeros(out_dim * in_dim, num_bases, dtype=torch.float64)
    bases = torch.zeros(num_bases, kh * kw, dtype=torch.float64)
    coefficients[:, :rank] = u[:, :rank] * s[:rank]
    bases[:rank] = vh[:rank]

    norm = matrix.norm()
    error = ((matrix - coefficients @ bases).norm() / norm).item() if norm > 0 else 0.0
    return coefficients.reshape(out_dim, in_dim, num_bases), bases.reshape(num_bases, kh, kw), error


def _convert(
    module: nn.Conv2d | nn.ConvTranspose2d,
    num_bases: int,
    latent_dim: int,
    hidden_dim: int,
    init_from_weights: bool,
    noise_scale: float,
) -> tuple[StochasticModule, float | None]:
    common = {
        "kernel_size": module.kernel_size,
        "stride": module.stride,
        "padding": module.padding,
        "dilation": module.dilation,
        "bias": module.bias is not None,
        "num_bases": num_bases,
        "latent_dim": latent_dim,
        "hidden_dim": hidden_dim,
        "mean_basis": init_from_weights,
    }
    if isinstance(module, nn.ConvTranspose2d):
        layer = StochasticBasisConvTranspose2d(
            module.in_channels, module.out_channels, output_padding=module.output_padding, **common
        )
    else:
        layer = StochasticBasisConv2d(
            module.in_channels, module.out_channels, padding_mode=module.padding_mode, **common
        )
    layer = layer.to(device=module.weight.device, dtype=module.weight.dtype)
    layer.train(module.training)
    if not init_from_weights:
        return layer, None

    coefficients, bases, error = low_rank_fit(module.weight, num_bases)
    generator = layer.basis_generator
    with torch.no_grad():
        layer.coefficients.copy_(coefficients)
        generator.mean_basis.copy_(bases)
        if module.bias is not None:
            layer.bias.copy_(module.bias)

        # Scale the sampled part so that its root mean square is noise_scale times the mean basis's.
        output_layer = generator.mlp[-1]
        probe = torch.randn(256, latent_dim, device=module.weight.device, dtype=module.weight.dtype)
        sampled_rms = (generator(probe) - generator.mean_basis).pow(2).mean().sqrt().clamp_min(1e-12)
        mean_rms = generator.mean_basis.pow(2).mean().sqrt()
        if mean_rms == 0:
            mean_rms = torch.tensor(1.0 / math.sqrt(bases[0].numel()))
        factor = noise_scale * mean_rms / sampled_rms
        output_layer.weight.mul_(factor)
        output_layer.bias.mul_(factor)
    return layer, error


def basisify(
    model: nn.Module,
    include: str | Sequence[str] | None = None,
    predicate: Callable[[str, nn.Module], bool] | None = None,
    preset: str | None = None,
    num_bases: int = 7,
    latent_dim: int = 64,
    hidden_dim: int = 64,
    init_from_weights: bool = True,
    noise_scale: float = 0.1,
) -> BasisifyReport:
    """Replace selected ``nn.Conv2d``/``nn.ConvTranspose2d`` modules of ``model`` in place by stochastic ones.

    A convolution is selected when it passes every selector given: a name matching one of the ``include``
    glob patterns (``fnmatch`` on qualified names such as ``"model.12.conv_block.5"``), ``predicate(name,
    module)`` returning True, and membership of ``preset``. Selected layers that cannot be converted exactly
    (groups > 1, string padding, subclasses, hooks or parametrizations, lazy or already stochastic modules) are
    left unchanged and listed in the report with the reason. A module registered under several names is
    replaced everywhere by one stochastic module.

    Args:
        model: Any module; changed in place.
        include: One glob pattern or several. Each must match at least one convolution.
        predicate: Function of (qualified name, module) selecting convolutions.
        preset: ``"all"`` (every convolution) or ``"resnet_alternate"`` (the second convolution of every
            module whose class is named ``ResnetBlock``, so that regular and stochastic convs alternate).
        num_bases: Number K of basis elements per layer.
        latent_dim: Latent size of each layer's basis generator.
        hidden_dim: Hidden width of each layer's basis generator.
        init_from_weights: If True, initialise coefficients and a mean basis from the existing weights by the
            rank-K SVD fit described in the module docstring. If False, layers start from a fresh random
            initialisation.
        noise_scale: Initial ratio of the sampled part of the bases to the mean basis (root mean squares),
            used with ``init_from_weights``. With 0 a converted layer starts deterministic, and its basis
            generator's hidden layer receives no gradient until the output layer has moved away from zero.

    Returns:
        A :class:`BasisifyReport`; ``print(report)`` shows a table.

    Raises:
        ValueError: If no selector is given, a pattern or preset matches no convolution, or nothing is selected.
    """
    if include is None and predicate is None and preset is None:
        raise ValueError(
            "basisify needs a selection; pass include=['name.pattern*'], predicate=fn(name, module) or "
            f"preset= one of {PRESETS}."
        )
    if isinstance(model, (*CONVERTIBLE, StochasticModule)):
        raise ValueError(
            f"basisify converts layers inside a model, got a bare {type(model).__name__}; "
            "build the stochastic layer directly or wrap it in nn.Sequential."
        )
    patterns = [include] if isinstance(include, str) else list(include or [])
    convs = {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, (*CONVERTIBLE, StochasticModule)) and name
    }

    selected = set(convs)
    for pattern in patterns:
        matches = {name for name in convs if fnmatch.fnmatchcase(name, pattern)}
        if not matches:
            sample = ", ".join(list(convs)[:8]) or "none"
            raise ValueError(
                f"Pattern {pattern!r} matches no convolution in {type(model).__name__}; "
                f"convolution names look like: {sample}."
            )
    if patterns:
        selected = {name for name in selected if any(fnmatch.fnmatchcase(name, p) for p in patterns)}
    if preset is not None:
        selected &= _preset_names(model, preset)
    if predicate is not None:
        selected = {name for name in selected if predicate(name, convs[name])}
    if not selected:
        raise ValueError(
            f"The selection (include={include!r}, predicate={predicate!r}, preset={preset!r}) selects no "
            f"convolution in {type(model).__name__}; loosen one of the selectors."
        )

    report = BasisifyReport(params_before=_count(model))
    references: dict[int, list[str]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if name:
            references.setdefault(id(module), []).append(name)
    done: set[int] = set()
    for name in (name for name in convs if name in selected):
        module = convs[name]
        if id(module) in done:
            continue
        done.add(id(module))
        reason = _reason_to_skip(module)
        if reason is not None:
            report.skipped.append(SkippedLayer(name, type(module).__name__, reason))
            continue

        layer, error = _convert(module, num_bases, latent_dim, hidden_dim, init_from_weights, noise_scale)
        for reference in references[id(module)]:
            parent_name, _, attribute = reference.rpartition(".")
            setattr(model.get_submodule(parent_name), attribute, layer)
        report.replaced.append(
            ConvertedLayer(name, type(module).__name__, type(layer).__name__, _count(module), _count(layer), error)
        )
    report.params_after = _count(model)
    return report
