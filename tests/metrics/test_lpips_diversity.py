from __future__ import annotations

import pytest
import torch
from torch import nn

from bgan_lightning.metrics.lpips_diversity import LPIPS_MIN_SIZE, LPIPSDiversity, check_image_range, sample_pairs
from bgan_lightning.metrics.lpips_net import LPIPSNet
from tests.metrics.two_ranks import gloo_rank, run_two_ranks


class MeanAbsDistance(nn.Module):
    """Stand-in for LPIPS: the mean absolute difference of two (B, 3, H, W) batches, shaped like LPIPS's output."""

    def __init__(self) -> None:
        super().__init__()
        self.seen_shapes = []

    def forward(self, first, second):
        self.seen_shapes.append(tuple(first.shape))
        return (first - second).abs().mean(dim=(1, 2, 3)).view(-1, 1, 1, 1)


def constant_samples(levels: list[list[float]], channels: int = 3, size: int = 4) -> torch.Tensor:
    """(N, S, C, size, size) images, each filled with one level."""
    values = torch.tensor(levels, dtype=torch.float32)
    return values[:, :, None, None, None].expand(-1, -1, channels, size, size).clone()


def make_metric(**kwargs) -> LPIPSDiversity:
    return LPIPSDiversity(lpips=MeanAbsDistance(), **kwargs)


def test_consecutive_pairs_average_every_pair():
    metric = make_metric()
    metric.update(constant_samples([[0.0, 0.5, -0.5], [-1.0, -1.0, 1.0]]))

    result = metric.compute()

    # Pairs (0,1), (1,2) per input: distances 0.5, 1.0 and 0.0, 2.0.
    assert result["mean"].item() == pytest.approx(0.875)
    assert result["std"].item() == 0.0
    assert metric.pair_count.tolist() == [4]


def test_single_channel_is_repeated_to_three():
    metric = make_metric()
    metric.update(constant_samples([[-1.0, 0.0]], channels=1))

    assert metric.lpips.seen_shapes == [(1, 3, 4, 4)]
    assert metric.compute()["mean"].item() == pytest.approx(1.0)


def test_consecutive_pair_indices():
    pairs = sample_pairs(4, "consecutive", None, torch.Generator())
    assert pairs.tolist() == [[0, 1], [1, 2], [2, 3]]


def test_random_pairs_distinct_and_counted():
    generator = torch.Generator().manual_seed(0)
    pairs = sample_pairs(3, "random", 500, generator)

    assert pairs.shape == (500, 2)
    assert bool((pairs[:, 0] != pairs[:, 1]).all())
    assert set(map(tuple, pairs.tolist())) == {(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)}


def random_samples(seed: int, n: int = 4, s: int = 5) -> torch.Tensor:
    return torch.rand(n, s, 3, 4, 4, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_random_pairs_are_seeded_and_independent_of_batching():
    samples = random_samples(0)

    together = make_metric(pairs="random", num_pairs=7, seed=3)
    together.update(samples, indices=[0, 1, 2, 3])
    split = make_metric(pairs="random", num_pairs=7, seed=3)
    split.update(samples[2:], indices=[2, 3])
    split.update(samples[:2], indices=[0, 1])
    other_seed = make_metric(pairs="random", num_pairs=7, seed=4)
    other_seed.update(samples)

    assert together.pair_count.tolist() == [28]
    assert torch.allclose(together.compute()["mean"], split.compute()["mean"], rtol=1e-12)
    assert together.compute()["mean"] != other_seed.compute()["mean"]


def test_random_pairs_leave_global_rng_untouched():
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    make_metric(pairs="random", trials=2).update(random_samples(0))
    assert torch.equal(torch.rand(3), expected)


def test_trials_give_mean_and_unbiased_std():
    metric = make_metric(trials=2)
    metric.update(constant_samples([[-1.0, 0.0]]), trial=0)  # diversity 1.0
    metric.update(constant_samples([[-1.0, 1.0]]), trial=1)  # diversity 2.0

    result = metric.compute()

    assert result["trials"].tolist() == [1.0, 2.0]
    assert result["mean"].item() == pytest.approx(1.5)
    assert result["std"].item() == pytest.approx(torch.tensor([1.0, 2.0]).std().item())


def test_random_pairs_vary_between_trials():
    metric = make_metric(pairs="random", num_pairs=3, trials=3)
    metric.update(random_samples(1))

    per_trial = metric.compute()["trials"]

    assert len(set(per_trial.tolist())) == 3
    assert metric.compute()["std"] > 0


def test_compute_without_pairs_for_a_trial_raises():
    metric = make_metric(trials=2)
    metric.update(random_samples(0), trial=0)
    with pytest.raises(RuntimeError, match=r"no pairs for trials \[1\]"):
        metric.compute()


def test_reset_clears_the_sums():
    metric = make_metric()
    metric.update(random_samples(0))
    metric.reset()
    metric.update(constant_samples([[-1.0, 0.0]]))
    assert metric.compute()["mean"].item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.zeros(1, 2, 3, 4, 4, dtype=torch.uint8), "must be float in \\[-1, 1\\], got dtype torch.uint8"),
        (torch.full((1, 2, 3, 4, 4), 0.5), "no negative value \\(range \\[0.5, 0.5\\]\\), which looks like \\[0, 1\\]"),
        (torch.full((1, 2, 3, 4, 4), -1.5), "must lie in \\[-1, 1\\], got values in \\[-1.5, -1.5\\]"),
        (torch.full((1, 2, 3, 4, 4), 2.0) - 0.5, "must lie in \\[-1, 1\\], got values in \\[1.5, 1.5\\]"),
    ],
)
def test_range_check_rejects_other_conventions(images, message):
    with pytest.raises(ValueError, match=message):
        make_metric().update(images)


def test_range_check_tolerance_and_nonnegative_opt_in():
    check_image_range(torch.tensor([-1.0005, 1.0005]))
    check_image_range(torch.tensor([0.0, 1.0]), allow_nonnegative=True)
    metric = make_metric(allow_nonnegative=True)
    metric.update(constant_samples([[0.0, 1.0]]))
    assert metric.compute()["mean"].item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"net": "squeeze"}, "Invalid LPIPS net 'squeeze'"),
        ({"version": "0.2"}, "Invalid LPIPS version '0.2'"),
        ({"pairs": "all"}, "Invalid pairs 'all'"),
        ({"num_pairs": 0}, "num_pairs must be at least 1 or None, got 0"),
        ({"trials": 0}, "trials must be at least 1, got 0"),
    ],
)
def test_invalid_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_metric(**kwargs)


@pytest.mark.parametrize(
    ("samples", "kwargs", "message"),
    [
        (torch.zeros(2, 3, 4, 4), {}, "samples must be \\(N, S, C, H, W\\), got shape \\(2, 3, 4, 4\\)"),
        (torch.zeros(2, 1, 3, 4, 4) - 1, {}, "needs at least 2 samples per input, got 1"),
        (torch.zeros(2, 2, 3, 4, 4) - 1, {"trial": 1}, "trial must be in \\[0, 1\\), got 1"),
        (torch.zeros(2, 2, 2, 4, 4) - 1, {}, "Images must have 1 or 3 channels, got 2"),
        (torch.zeros(2, 2, 3, 4, 4) - 1, {"indices": [0]}, "Got 1 indices for 2 inputs"),
    ],
)
def test_invalid_updates_raise(samples, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_metric().update(samples, **kwargs)


def test_network_stays_in_eval_mode():
    metric = make_metric()
    metric.train()
    assert not metric.lpips.training
    assert not any(p.requires_grad for p in metric.lpips.parameters())


# ---------------------------------------------------------------- DDP: two gloo processes on the CPU
def _ddp_worker(rank: int, port: int, queue) -> None:
    with gloo_rank(rank, port):
        samples = random_samples(0)
        metric = make_metric(pairs="random", num_pairs=5, trials=2)
        # Rank r gets inputs r and r + 2, as a DistributedSampler without shuffling would give it.
        mine = [rank, rank + 2]
        metric.update(samples[mine], indices=mine)
        result = metric.compute()
        queue.put((rank, result["trials"].tolist()))


def test_ranks_synchronise_and_match_a_single_process():
    reference = make_metric(pairs="random", num_pairs=5, trials=2)
    reference.update(random_samples(0), indices=[0, 1, 2, 3])
    expected = reference.compute()["trials"].tolist()

    results = dict(run_two_ranks(_ddp_worker))

    assert results[0] == pytest.approx(expected, rel=1e-12)
    assert results[1] == pytest.approx(expected, rel=1e-12)


def test_non_finite_samples_raise_with_their_count():
    samples = constant_samples([[-0.5, 0.5]])
    samples[0, 0, 0, 0, :2] = float("nan")
    samples[0, 1, 1, 2, 3] = float("inf")
    metric = make_metric()

    message = "contain 3 non-finite values of 96: the generator produced NaN/Inf"
    with pytest.raises(ValueError, match=message):
        metric.update(samples)
    assert metric.pair_count.tolist() == [0]


@pytest.mark.parametrize(("net", "minimum"), [("alex", 31), ("vgg", 16)])
def test_images_below_the_backbone_minimum_raise(net, minimum):
    # The zero-initialised network is enough: the check is on shapes, and the smallest allowed size must run.
    metric = LPIPSDiversity(net=net, lpips=LPIPSNet(net=net))
    assert LPIPS_MIN_SIZE[net] == minimum

    metric.update(constant_samples([[-0.5, 0.5]], size=minimum))
    assert metric.compute()["mean"].item() == 0.0

    too_small = constant_samples([[-0.5, 0.5]], size=minimum - 1)
    message = (
        f"Images of {minimum - 1}x{minimum - 1} px are too small for LPIPS with net='{net}', which needs at least "
    )
    with pytest.raises(ValueError, match=f"{message}{minimum}x{minimum} px"):
        metric.update(too_small)


def test_eight_pixel_images_name_the_alexnet_minimum():
    metric = LPIPSDiversity(lpips=LPIPSNet(net="alex"))

    with pytest.raises(
        ValueError, match="Images of 8x8 px are too small for LPIPS with net='alex', which needs at least 31x31 px"
    ):
        metric.update(constant_samples([[-0.5, 0.5]], size=8))
