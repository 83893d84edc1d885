from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from bgan_lightning.images import to_uint8
from bgan_lightning.metrics.fid import SampleFID, module_fingerprint, real_statistics_path
from tests.metrics.two_ranks import gloo_rank, run_two_ranks


class PooledColours(nn.Module):
    """Stand-in for Inception: 2x2 average-pooled colours of uint8 (or [0, 1] float) images, 12 features."""

    num_features = 12

    def __init__(self, expects_float: bool = False) -> None:
        super().__init__()
        self.expects_float = expects_float
        self.inputs = []

    def forward(self, images):
        self.inputs.append(images)
        scaled = images if self.expects_float else images.float() / 255
        return F.adaptive_avg_pool2d(scaled, 2).flatten(1)


def make_metric(**kwargs) -> SampleFID:
    return SampleFID(fid=FrechetInceptionDistance(feature=PooledColours()), **kwargs)


def images(seed: int, n: int = 30, shift: float = 0.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, 6, 6, generator=generator) * 1.6 - 0.8 + shift).clamp(-1, 1)


def reference_fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID from the textbook formula with scipy's matrix square root, on the same uint8 levels."""

    def stats(batch):
        features = F.adaptive_avg_pool2d(to_uint8(batch).double() / 255, 2).flatten(1).numpy()
        return features.mean(axis=0), np.cov(features, rowvar=False)

    (mu1, sigma1), (mu2, sigma2) = stats(real), stats(fake)
    root = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2 - 2 * root))


def test_fid_matches_the_textbook_formula():
    real, fake = images(0), images(1, shift=0.2)
    metric = make_metric()
    metric.update(real, real=True)
    metric.update(fake)

    assert metric.compute().item() == pytest.approx(reference_fid(real, fake), rel=1e-4)


def test_fid_of_a_set_against_itself_is_zero():
    metric = make_metric()
    metric.update(images(0), real=True)
    metric.update(images(0))
    assert abs(metric.compute().item()) < 1e-6


def test_samples_of_every_input_count_as_generated_images():
    metric = make_metric()
    metric.update(images(2).view(10, 3, 3, 6, 6))
    assert metric.num_fake == 30


def test_single_channel_images_are_repeated():
    metric = make_metric()
    metric.update(images(0)[:, :1])
    seen = metric.fid.inception.inputs[-1]
    assert seen.dtype == torch.uint8
    assert seen.shape == (30, 3, 6, 6)
    assert torch.equal(seen[:, 0], seen[:, 2])


def test_normalize_flag_passes_unit_floats():
    network = PooledColours(expects_float=True)
    metric = SampleFID(fid=FrechetInceptionDistance(feature=network, normalize=True))
    batch = images(0)
    metric.update(batch)
    assert torch.equal(network.inputs[-1], to_uint8(batch).float() / 255)


def test_fewer_than_two_images_raise():
    metric = make_metric()
    metric.update(images(0, n=1), real=True)
    metric.update(images(1, n=5))
    with pytest.raises(ValueError, match="at least 2 real and 2 generated images, got 1 real and 5 generated"):
        metric.compute()


def test_fewer_images_than_features_warn():
    metric = make_metric()
    metric.update(images(0, n=5), real=True)
    metric.update(images(1, n=40))
    with pytest.warns(UserWarning, match="FID from 5 real and 40 generated images with 12-d features"):
        metric.compute()


def test_reset_keeps_real_statistics_and_memory_flat():
    metric = make_metric()
    metric.update(images(0), real=True)
    shapes = {name: tuple(t.shape) for name, t in metric.fid.metric_state.items()}

    values = []
    for epoch in range(3):
        metric.update(images(10 + epoch))
        values.append(metric.compute().item())
        metric.reset()
        assert metric.num_fake == 0
        assert metric.num_real == 30
        assert {name: tuple(t.shape) for name, t in metric.fid.metric_state.items()} == shapes

    assert len(set(values)) == 3
    metric.reset_real()
    assert metric.num_real == 0


def test_cached_real_statistics_give_the_same_fid(tmp_path):
    path = real_statistics_path(tmp_path, "facades", "test", (6, 6), 30, 12, "abc", direction="BtoA")
    first = make_metric()
    assert not first.load_real_statistics(path)
    first.update(images(0), real=True)
    first.save_real_statistics(path, dataset="facades")
    first.update(images(1))
    expected = first.compute()

    second = make_metric()
    assert second.load_real_statistics(path)
    second.update(images(1))

    assert second.num_real == 30
    assert torch.allclose(second.compute(), expected, rtol=1e-10)
    assert path.name == "facades-BtoA-test-6x6-n30-d12-abc.npz"
    assert (
        real_statistics_path(tmp_path, "f", "val", (6, 6), 3, 12, "abc", content_id="1f").name
        == "f-val-6x6-n3-d12-abc-1f.npz"
    )
    assert not list(tmp_path.glob(".*tmp"))


def test_cache_with_other_feature_size_is_rejected(tmp_path):
    path = tmp_path / "stats.npz"
    metric = make_metric()
    metric.update(images(0), real=True)
    metric.save_real_statistics(path)

    class EightFeatures(PooledColours):
        num_features = 8

        def forward(self, images):
            return super().forward(images)[:, :8]

    other = SampleFID(fid=FrechetInceptionDistance(feature=EightFeatures()))
    with pytest.raises(ValueError, match="contains 12-d statistics but the metric uses 8-d features"):
        other.load_real_statistics(path)


def test_saving_too_few_real_images_raises(tmp_path):
    with pytest.raises(ValueError, match="Refusing to cache real FID statistics of 0 images"):
        make_metric().save_real_statistics(tmp_path / "stats.npz")


def test_weights_id_names_the_weights():
    torch.manual_seed(0)
    first, second = nn.Linear(2, 2), nn.Linear(2, 2)

    assert module_fingerprint(first) == module_fingerprint(first)
    assert module_fingerprint(first) != module_fingerprint(second)
    assert make_metric(weights_id="fid-v3").weights_id == "fid-v3"
    assert make_metric().weights_id == module_fingerprint(PooledColours())


def test_range_check_applies_to_fid_images():
    with pytest.raises(ValueError, match="FID images has no negative value"):
        make_metric().update(images(0).abs())


# ---------------------------------------------------------------- DDP: two gloo processes on the CPU
def _ddp_worker(rank: int, port: int, path: str, queue) -> None:
    with gloo_rank(rank, port):
        metric = make_metric()
        loaded = metric.load_real_statistics(path)
        metric.update(images(1)[rank::2])
        queue.put((rank, loaded, metric.num_real, metric.compute().item()))


def test_ranks_load_cached_statistics_once(tmp_path):
    path = tmp_path / "stats.npz"
    single = make_metric()
    single.update(images(0), real=True)
    single.save_real_statistics(path)
    single.update(images(1))
    expected = single.compute().item()

    results = run_two_ranks(_ddp_worker, str(path))

    # Only rank 0 loads the cached sums, so their sum over ranks counts every real image once.
    assert [(rank, loaded, num_real) for rank, loaded, num_real, _ in results] == [(0, True, 30), (1, True, 0)]
    assert [value for *_, value in results] == pytest.approx([expected, expected], rel=1e-6)
