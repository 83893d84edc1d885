from __future__ import annotations

import math

import pytest
import torch

from bgan_lightning.images import from_uint8
from bgan_lightning.metrics.oracle import ModeOracle, js_divergence

PALETTE = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
BACKGROUND = (255, 255, 255)


def square_region(size: int = 8) -> torch.Tensor:
    region = torch.zeros(1, size, size, dtype=torch.bool)
    region[:, 2:6, 2:6] = True
    return region


def painted(colour: tuple[int, int, int], region: torch.Tensor, columns: slice = slice(None)) -> torch.Tensor:
    """A (3, H, W) image in [-1, 1]: background, with ``colour`` on the region's pixels in ``columns``."""
    image = torch.tensor(BACKGROUND, dtype=torch.uint8)[:, None, None].repeat(1, *region.shape[-2:])
    mask = region[0].clone()
    keep = torch.zeros_like(mask)
    keep[:, columns] = True
    image[:, mask & keep] = torch.tensor(colour, dtype=torch.uint8)[:, None]
    return from_uint8(image)


def test_coverage_jsd_and_iou_have_exact_values():
    region = square_region()
    every_mode = torch.stack([painted(colour, region) for colour in PALETTE])
    # One mode only; the first sample fills only the left half of the region.
    one_mode = torch.stack(
        [painted(PALETTE[0], region, slice(0, 4)), painted(PALETTE[0], region), painted(PALETTE[0], region)]
    )
    metric = ModeOracle(PALETTE, BACKGROUND)

    metric.update(torch.stack([every_mode, one_mode]), torch.stack([region, region]))
    result = metric.compute()

    jsd_one_mode = (math.log2(1.5) + 1 / 3) / 2
    assert result["mode_coverage"].item() == pytest.approx(2 / 3)
    assert result["mode_jsd"].item() == pytest.approx(jsd_one_mode / 2)
    assert result["shape_iou"].item() == pytest.approx((1 + 5 / 6) / 2)
    assert result["mode_histogram"].tolist() == pytest.approx([4 / 6, 1 / 6, 1 / 6])


def test_classification_uses_the_mean_colour_inside_the_region():
    region = square_region()
    # A dark-blue fill with noise is still nearest to blue.
    noisy = painted((20, 10, 230), region)[None, None]
    metric = ModeOracle(PALETTE, BACKGROUND)
    colours = ((noisy + 1) * 127.5).round()
    assert metric.classify(colours, region).tolist() == [[2]]


def test_default_threshold_is_half_the_nearest_palette_gap():
    metric = ModeOracle([(255, 0, 0), (200, 200, 200)], BACKGROUND)
    assert metric.threshold == pytest.approx(math.sqrt(3 * 55**2) / 2)


def test_js_divergence_bounds():
    p = torch.tensor([1.0, 0.0])
    q = torch.tensor([0.0, 1.0])
    assert js_divergence(p, p).item() == 0.0
    assert js_divergence(p, q).item() == pytest.approx(1.0)


def test_region_accepts_float_masks_and_three_dimensional_shape():
    region = square_region()
    samples = torch.stack([painted(PALETTE[1], region), painted(PALETTE[1], region)])[None]
    metric = ModeOracle(PALETTE, BACKGROUND)
    metric.update(samples, region.float())
    metric.update(samples, region.float()[:, None])
    assert metric.compute()["mode_histogram"].tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"palette": [(1, 2, 3)]}, "palette must contain at least 2 RGB triples"),
        ({"background": (1, 2)}, "background must be one RGB triple"),
        (
            {"palette": [(255, 255, 255), (0, 0, 0)]},
            "threshold must be positive, got 0.0; give a palette",
        ),
    ],
)
def test_invalid_settings_raise(kwargs, message):
    settings = {"palette": PALETTE, "background": BACKGROUND, **kwargs}
    with pytest.raises(ValueError, match=message):
        ModeOracle(**settings)


def test_invalid_updates_raise():
    metric = ModeOracle(PALETTE, BACKGROUND)
    region = square_region()
    samples = painted(PALETTE[0], region)[None, None]
    with pytest.raises(ValueError, match=r"region masks of inputs \[0\] of this batch are empty"):
        metric.update(samples, torch.zeros_like(region))
    with pytest.raises(ValueError, match=r"samples must be \(N, S, 3, H, W\), got shape \(1, 1, 1, 8, 8\)"):
        metric.update(samples[:, :, :1], region)
    with pytest.raises(ValueError, match=r"region must be \(N, 1, H, W\) matching samples"):
        metric.update(samples, region[:, :4])
    with pytest.raises(RuntimeError, match="ModeOracle has no inputs"):
        metric.compute()
