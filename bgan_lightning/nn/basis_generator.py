"""The basis generator T_theta(z) of BasisGAN: a tiny MLP from a latent to K spatial basis elements."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class BasisGenerator(nn.Module):
    """Map latents ``z`` ~ N(0, I) to ``num_bases`` spatial basis elements ``psi``.

    Wang, Cheng, Sapiro and Qiu (ICLR 2020) use one hidden layer of 64 units on a 64-d latent and K = 7
    bases, and report that larger generators do not help (their appendix E varies both sizes from 16 to
    512 and K from 7 to 128).

    Args:
        num_bases: Number K of basis elements.
        kernel_size: Spatial size (kh, kw) of each basis element.
        latent_dim: Size of the latent ``z``.
        hidden_dim: Width of each hidden layer.
        num_hidden_layers: Number of hidden layers (1 in the paper).
        mean_basis: If True, add a learned mean basis ``mean_basis`` (K, kh, kw), initially zero, to the MLP's
            output, so that the bases vary around it. :func:`bgan_lightning.nn.basisify` sets it to the best
            rank-K fit of a trained filter bank.

    Shape:
        - Input: ``z`` of shape (B, latent_dim).
        - Output: ``psi`` of shape (B, num_bases, kh, kw).
    """

    def __init__(
        self,
        num_bases: int = 7,
        kernel_size: tuple[int, int] = (3, 3),
        latent_dim: int = 64,
        hidden_dim: int = 64,
        num_hidden_layers: int = 1,
        mean_basis: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("num_bases", num_bases), ("latent_dim", latent_dim), ("hidden_dim", hidden_dim)):
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}.")
        if num_hidden_layers < 0:
            raise ValueError(f"num_hidden_layers must be >= 0, got {num_hidden_layers}.")
        self.num_bases = num_bases
        self.kernel_size = tuple(kernel_size)
        self.latent_dim = latent_dim

        layers: list[nn.Module] = []
        width = latent_dim
        for _ in range(num_hidden_layers):
            layers += [nn.Linear(width, hidden_dim), nn.ReLU(inplace=True)]
            width = hidden_dim
        layers.append(nn.Linear(width, num_bases * self.kernel_size[0] * self.kernel_size[1]))
        self.mlp = nn.Sequential(*layers)
        if mean_basis:
            self.mean_basis = nn.Parameter(torch.zeros(num_bases, *self.kernel_size))
        else:
            self.register_parameter("mean_basis", None)

    def forward(self, z: Tensor) -> Tensor:
        """Map latents z (B, latent_dim) to bases psi (B, K, kh, kw)."""
        psi = self.mlp(z).view(z.shape[0], self.num_bases, *self.kernel_size)  # (B, K, kh, kw)
        if self.mean_basis is not None:
            psi = psi + self.mean_basis.to(psi.dtype)
        return psi


def build_basis_generator(
    owner: str,
    basis_generator: BasisGenerator | None,
    num_bases: int,
    kernel_size: tuple[int, int],
    latent_dim: int,
    hidden_dim: int,
    mean_basis: bool = False,
) -> BasisGenerator:
    """Return ``basis_generator`` after checking that it fits a layer, or build a new one.

    Args:
        owner: Class name of the layer, for error messages.
        basis_generator: A generator to use (it may be shared between layers), or None to build one.
        num_bases: Number K of basis elements the layer expects.
        kernel_size: Filter size (kh, kw) of the layer.
        latent_dim: Latent size of the layer.
        hidden_dim: Hidden width for a new generator.
        mean_basis: Whether a new generator learns a mean basis.

    Raises:
        ValueError: If a given generator was built for another kernel size, number of bases or latent size.
    """
    if basis_generator is None:
        return BasisGenerator(num_bases, kernel_size, latent_dim, hidden_dim, mean_basis=mean_basis)

    settings = (
        ("kernel_size", tuple(kernel_size), basis_generator.kernel_size),
        ("num_bases", num_bases, basis_generator.num_bases),
        ("latent_dim", latent_dim, basis_generator.latent_dim),
    )
    for name, expected, actual in settings:
        if expected != actual:
            raise ValueError(
                f"{owner} has {name}={expected} but its basis_generator was built for {name}={actual}; "
                f"build the BasisGenerator with {name}={expected} or give the layer {name}={actual}."
            )
    return basis_generator


def check_bases(owner: str, psi: Tensor, num_bases: int, kernel_size: tuple[int, int]) -> Tensor:
    """Return bases ``psi`` (B, K, kh, kw) after checking them against the layer's K and kernel size.

    Raises:
        RuntimeError: If the basis generator was replaced by one built for another shape.
    """
    if psi.shape[1:] != (num_bases, *kernel_size):
        raise RuntimeError(
            f"{owner} needs bases of shape (B, {num_bases}, {kernel_size[0]}, {kernel_size[1]}) but its "
            f"basis_generator produced {tuple(psi.shape)}; replace it by a BasisGenerator(num_bases={num_bases}, "
            f"kernel_size={kernel_size})."
        )
    return psi
