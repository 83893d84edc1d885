"""The basis generator T_theta(z) of BasisGAN: a tiny MLP from a latent to K spatial basis elements."""

from __future__ import annotations

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

    def forward(self, z: Tensor) -> Tensor:
        psi = self.mlp(z)  # (B, K * kh * kw)
        return psi.view(z.shape[0], self.num_bases, *self.kernel_size)
