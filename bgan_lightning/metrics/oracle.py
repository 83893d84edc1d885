"""Oracle metrics for data with known modes: a shape filled with one of M palette colours on a background.

For such data the true conditional distribution is known (every palette colour equally likely for every
outline), so mode coverage and mode balance can be measured exactly instead of through LPIPS and FID.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric

from bgan_lightning.images import to_uint8
from bgan_lightning.metrics.lpips_diversity import check_image_range


def js_divergence(p: Tensor, q: Tensor) -> Tensor:
    """Jensen-Shannon divergence in bits (between 0 and 1) of distributions along the last dimension.

    Args:
        p: (..., M) non-negative, summing to 1.
        q: (..., M) non-negative, summing to 1.

    Returns:
        (...) divergences.
    """
    middle = (p + q) / 2

    def kl(a: Tensor, b: Tensor) -> Tensor:
        # Terms with a = 0 contribute 0. Wherever a > 0, b > 0 too because b is the midpoint.
        ratio = torch.where(a > 0, a / b.clamp_min(1e-300), torch.ones_like(a))
        return (a * torch.log2(ratio)).sum(dim=-1)

    return (kl(p, middle) + kl(q, middle)) / 2


class ModeOracle(Metric):
    """Mode coverage, mode balance and shape fidelity of samples of filled shapes.

    For each input, every sample is assigned to the palette colour nearest (Euclidean, in 0..255 RGB) to its
    mean colour inside the true filled region. Per input this gives:

    - ``mode_coverage``: the fraction of the M palette colours that appear among its S samples (1 is best);
    - ``mode_jsd``: the Jensen-Shannon divergence in bits between the sampled colour frequencies and the
      uniform truth (0 is best; at most 1);
    - ``shape_iou``: the mean over samples of the IoU between the pixels whose colour is farther than
      ``threshold`` from the background colour and the true region (1 is best).

    :meth:`compute` averages them over inputs and adds ``mode_histogram`` (M,), the share of all samples
    assigned to each colour. States are sums synchronised across DDP ranks.

    Args:
        palette: The M mode colours as RGB uint8 triples.
        background: Background colour as an RGB uint8 triple.
        threshold: Colour distance (0..255 units) above which a pixel counts as filled; None uses half the
            smallest distance between the background and a palette colour.
        allow_nonnegative: Accept samples without negative values (see
            :func:`bgan_lightning.metrics.lpips_diversity.check_image_range`).
    """

    is_differentiable = False
    full_state_update = False

    def __init__(
        self,
        palette: Sequence[Sequence[int]],
        background: Sequence[int],
        threshold: float | None = None,
        allow_nonnegative: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        palette_tensor = torch.tensor([list(colour) for colour in palette], dtype=torch.float32)
        if palette_tensor.dim() != 2 or palette_tensor.shape[1] != 3 or len(palette_tensor) < 2:
            raise ValueError(f"palette must contain at least 2 RGB triples, got {list(palette)!r}.")
        background_tensor = torch.tensor(list(background), dtype=torch.float32)
        if background_tensor.shape != (3,):
            raise ValueError(f"background must be one RGB triple, got {background!r}.")
        gaps = (palette_tensor - background_tensor).norm(dim=1)
        if threshold is None:
            threshold = float(gaps.min()) / 2
        if threshold <= 0:
            raise ValueError(
                f"threshold must be positive, got {threshold}; "
                "give a palette whose colours all differ from the background."
            )
        self.num_modes = len(palette_tensor)
        self.threshold = threshold
        self.allow_nonnegative = allow_nonnegative
        self.register_buffer("palette", palette_tensor, persistent=False)
        self.register_buffer("background", background_tensor, persistent=False)

        self.add_state("coverage_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("jsd_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("iou_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("input_count", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("mode_counts", torch.zeros(self.num_modes, dtype=torch.long), dist_reduce_fx="sum")

    def classify(self, colours: Tensor, region: Tensor) -> Tensor:
        """Palette index of each sample: the colour nearest to its mean colour inside the region.

        Args:
            colours: (N, S, 3, H, W) float RGB in 0..255.
            region: (N, H, W) bool mask of the filled region.

        Returns:
            (N, S) long tensor of palette indices.
        """
        weights = region[:, None, None].float()
        mean_colour = (colours * weights).sum(dim=(-2, -1)) / weights.sum(dim=(-2, -1))  # (N, S, 3)
        palette = self.palette.expand(len(colours), -1, -1)
        distances = torch.cdist(mean_colour, palette, compute_mode="donot_use_mm_for_euclid_dist")  # (N, S, M)
        return distances.argmin(dim=-1)

    def update(self, samples: Tensor, region: Tensor) -> None:
        """Add the samples of N inputs.

        Args:
            samples: (N, S, 3, H, W) in [-1, 1].
            region: (N, 1, H, W) or (N, H, W) mask of each input's filled region: bool, or numbers where values
                above 0.5 are inside.
        """
        if samples.dim() != 5 or samples.shape[2] != 3:
            raise ValueError(f"samples must be (N, S, 3, H, W), got shape {tuple(samples.shape)}.")
        if region.dim() == 4:
            region = region[:, 0]
        if region.shape != (samples.shape[0], *samples.shape[-2:]):
            raise ValueError(
                f"region must be (N, 1, H, W) matching samples {tuple(samples.shape)}, got {tuple(region.shape)}."
            )
        check_image_range(samples, "oracle samples", self.allow_nonnegative)
        region = region.to(samples.device)
        region = region if region.dtype == torch.bool else region > 0.5
        empty = (~region.flatten(1).any(dim=1)).nonzero().flatten().tolist()
        if empty:
            raise ValueError(f"The region masks of inputs {empty} of this batch are empty; each needs a filled shape.")

        colours = to_uint8(samples).to(samples.device).float()  # (N, S, 3, H, W) in 0..255
        modes = self.classify(colours, region)  # (N, S)
        counts = torch.nn.functional.one_hot(modes, self.num_modes).sum(dim=1)  # (N, M)
        frequencies = counts.double() / samples.shape[1]
        uniform = torch.full_like(frequencies, 1.0 / self.num_modes)
        self.coverage_sum += (counts > 0).double().sum(dim=1).div(self.num_modes).sum()
        self.jsd_sum += js_divergence(frequencies, uniform).sum()
        self.mode_counts += counts.sum(dim=0)

        filled = (colours - self.background[:, None, None]).norm(dim=2) > self.threshold  # (N, S, H, W)
        truth = region[:, None]
        intersection = (filled & truth).flatten(2).sum(dim=2).double()
        union = (filled | truth).flatten(2).sum(dim=2).double()
        self.iou_sum += (intersection / union).mean(dim=1).sum()
        self.input_count += samples.shape[0]

    def compute(self) -> dict[str, Tensor]:
        """Return ``{"mode_coverage", "mode_jsd", "shape_iou", "mode_histogram"}`` averaged over inputs."""
        if int(self.input_count) == 0:
            raise RuntimeError("ModeOracle has no inputs; call update() first.")
        count = self.input_count.double()
        return {
            "mode_coverage": self.coverage_sum / count,
            "mode_jsd": self.jsd_sum / count,
            "shape_iou": self.iou_sum / count,
            "mode_histogram": self.mode_counts.double() / max(1, int(self.mode_counts.sum())),
        }
