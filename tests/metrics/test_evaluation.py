from __future__ import annotations

import json

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from PIL import Image
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader
from torchmetrics.image.fid import FrechetInceptionDistance

from bgan_lightning.images import make_grid
from bgan_lightning.metrics.evaluation import EvaluationCallback, TestReportCallback
from bgan_lightning.metrics.fid import SampleFID, content_fingerprint
from bgan_lightning.metrics.lpips_diversity import LPIPSDiversity
from bgan_lightning.modules import ConditionalGAN
from bgan_lightning.nn import StochasticBasisConv2d
from tests.data import RandomPairs
from tests.modules.test_conditional_gan import make_trainer

# The tiny sets have fewer images than the stand-in's 12 features; the bias warning is tested in test_fid.py.
pytestmark = pytest.mark.filterwarnings("ignore:FID from .* images")


class TinyGenerator(nn.Module):
    """A regular conv then a stochastic one, so samples of one input differ."""

    output_nc = 3

    def __init__(self, input_nc: int = 3) -> None:
        super().__init__()
        self.input_nc = input_nc
        self.conv = nn.Conv2d(input_nc, 8, 3, padding=1)
        self.stochastic = StochasticBasisConv2d(8, 3, 3, padding=1, latent_dim=8, hidden_dim=8)

    def forward(self, x):
        return torch.tanh(self.stochastic(torch.relu(self.conv(x))))


class TinyDiscriminator(nn.Module):
    def __init__(self, channels: int = 6) -> None:
        super().__init__()
        self.net = nn.Conv2d(channels, 1, 4, stride=2, padding=1)

    def forward(self, x):
        return self.net(x)


class MeanAbsDistance(nn.Module):
    """Stand-in for LPIPS: mean absolute difference per image pair."""

    def forward(self, first, second):
        return (first - second).abs().mean(dim=(1, 2, 3))


class PooledColours(nn.Module):
    """Stand-in for Inception: 2x2 pooled colours of uint8 images (12 features); counts images per call."""

    num_features = 12

    def __init__(self) -> None:
        super().__init__()
        self.calls = []

    def forward(self, images):
        self.calls.append(len(images))
        return F.adaptive_avg_pool2d(images.float() / 255, 2).flatten(1)


class PairData(pl.LightningDataModule):
    dataset_name = "tiny_pairs"
    direction = "AtoB"
    input_nc = 3
    output_nc = 3

    def __init__(self, batch_size: int = 2) -> None:
        super().__init__()
        self.batch_size = batch_size

    def train_dataloader(self):
        return DataLoader(RandomPairs(4, 0), batch_size=2)

    def val_dataloader(self):
        return DataLoader(RandomPairs(4, 1), batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(RandomPairs(5, 2), batch_size=self.batch_size)


def make_module(input_nc: int = 3) -> ConditionalGAN:
    torch.manual_seed(0)
    return ConditionalGAN(TinyGenerator(input_nc), TinyDiscriminator(input_nc + 3), sample_seed=3)


def fakes(tmp_path) -> dict:
    """Injected stand-in networks and a temporary statistics cache, so tests run offline and fast."""
    return {
        "lpips": MeanAbsDistance(),
        "fid_metric": FrechetInceptionDistance(feature=PooledColours()),
        "fid_cache_dir": str(tmp_path / "fid_stats"),
    }


def run_test(tmp_path, batch_size: int = 2, **kwargs) -> tuple[TestReportCallback, dict]:
    options = {"max_inputs": 3, "num_samples": 3, **fakes(tmp_path), **kwargs}
    callback = TestReportCallback(**options)
    trainer = make_trainer(tmp_path, callbacks=[callback])
    results = trainer.test(make_module(), datamodule=PairData(batch_size), verbose=False)[0]
    return callback, results


def test_report_covers_every_input_and_states_the_protocol(tmp_path):
    callback, results = run_test(tmp_path)
    folder = tmp_path / "test_report"

    for key in ("test/lpips_diversity", "test/lpips_diversity_std", "test/fid"):
        assert key in results
    record = json.loads((folder / "metrics.json").read_text())
    protocol = record["protocol"]
    assert protocol["num_inputs"] == 5
    assert protocol["diversity_inputs"] == 3
    assert protocol["fid_real_images"] == 5
    assert protocol["fid_fake_images"] == 15
    assert protocol["num_pairs"] == 2
    assert protocol["seed"] == 3
    assert protocol["image_size"] == "16x16"
    assert protocol["dataset"] == "tiny_pairs"
    assert record["metrics"]["fid"] == pytest.approx(results["test/fid"])
    assert [entry["strip"] for entry in record["inputs"]] == [f"strips/0000{i}_pair_{i}.png" for i in range(5)]
    assert len(list((folder / "strips").glob("*.png"))) == 5
    markdown = (folder / "report.md").read_text()
    assert "| Samples per input | 3 |" in markdown
    assert "| LPIPS network | alex |" in markdown
    assert "| LPIPS version | 0.1 |" in markdown
    assert (folder / "index.html").read_text().count("<img ") == 5
    assert callback.report_paths["html"] == folder / "index.html"


def test_numbers_equal_metrics_computed_from_seeded_samples(tmp_path):
    _, results = run_test(tmp_path, fid_cache_dir=None, cache_real_statistics=False)

    module = make_module().eval()
    data = RandomPairs(5, 2)
    samples = module.sample(data.a, 3, seed=[3 + i for i in range(5)])
    diversity = LPIPSDiversity(lpips=MeanAbsDistance())
    diversity.update(samples[:3])
    fid = SampleFID(fid=FrechetInceptionDistance(feature=PooledColours()))
    fid.update(data.b, real=True)
    fid.update(samples)

    assert results["test/lpips_diversity"] == pytest.approx(diversity.compute()["mean"].item(), rel=1e-6)
    with pytest.warns(UserWarning, match="fewer images than feature dimensions"):
        assert results["test/fid"] == pytest.approx(fid.compute().item(), rel=1e-5)
    strip = np.asarray(Image.open(tmp_path / "test_report" / "strips" / "00004_pair_4.png"))
    expected = make_grid([[data.a[4], data.b[4], *samples[4]]]).permute(1, 2, 0).numpy()
    assert np.array_equal(strip, expected)


def test_results_do_not_depend_on_batching(tmp_path):
    _, by_two = run_test(tmp_path / "two", batch_size=2)
    _, all_at_once = run_test(tmp_path / "five", batch_size=5)
    assert by_two == pytest.approx(all_at_once, rel=1e-6)


def test_evaluation_ignores_and_keeps_the_global_rng(tmp_path):
    def run(callbacks, seed):
        trainer = make_trainer(tmp_path, callbacks=callbacks)
        module = make_module()
        torch.manual_seed(seed)
        results = trainer.test(module, datamodule=PairData(), verbose=False)[0]
        return results, torch.rand(4)

    options = {"max_inputs": 3, "num_samples": 3, "cache_real_statistics": False, "pairs": "random", "trials": 2}
    first, after_first = run([TestReportCallback(**options, **fakes(tmp_path))], seed=1)
    second, _ = run([TestReportCallback(**options, **fakes(tmp_path))], seed=2)
    _, after_plain = run([], seed=1)

    assert first == second
    assert torch.equal(after_first, after_plain)


def test_real_statistics_are_cached_and_reused(tmp_path):
    first, results = run_test(tmp_path)
    cached = list((tmp_path / "fid_stats").glob("*.npz"))
    assert [path.name.rsplit("-", 2)[0] for path in cached] == ["tiny_pairs-AtoB-test-16x16-n5-d12"]
    assert cached[0].name.endswith(f"-{content_fingerprint(RandomPairs(5, 2).b[:2])}.npz")

    second, again = run_test(tmp_path)

    network = second.fid_score.fid.inception
    assert sum(network.calls) == 15  # the samples only; the 5 real targets came from the cache
    assert again["test/fid"] == pytest.approx(results["test/fid"], rel=1e-6)
    protocol = json.loads((tmp_path / "test_report" / "metrics.json").read_text())["protocol"]
    assert protocol["fid_real_statistics"] == f"loaded from {cached[0]}"
    assert first.protocol(None)["fid_real_statistics"] == f"computed from the split, cached in {cached[0]}"


def test_trials_draw_fresh_samples(tmp_path):
    callback, results = run_test(tmp_path, trials=3, fid=False)
    assert results["test/lpips_diversity_std"] > 0
    assert "test/fid" not in results
    protocol = json.loads((tmp_path / "test_report" / "metrics.json").read_text())["protocol"]
    assert protocol["trials"] == 3
    assert protocol["fid_feature"] == "FID off"


def test_oracle_metrics_on_multimodal_shapes(tmp_path):
    from bgan_lightning.data.multimodal_shapes import MultimodalShapesDataModule

    data = MultimodalShapesDataModule(
        size=16, num_modes=3, num_train=2, num_val=2, num_test=3, cache_dir=tmp_path / "data", batch_size=2
    )
    callback = TestReportCallback(num_samples=4, allow_nonnegative=True, **fakes(tmp_path))
    trainer = make_trainer(tmp_path, callbacks=[callback])
    results = trainer.test(make_module(input_nc=1), datamodule=data, verbose=False)[0]

    for key in ("test/mode_coverage", "test/mode_jsd", "test/shape_iou"):
        assert key in results
    assert 1 / 3 <= results["test/mode_coverage"] <= 1
    assert 0 <= results["test/mode_jsd"] <= 1
    markdown = (tmp_path / "test_report" / "report.md").read_text()
    assert "| Mode coverage (fraction of the M modes among the samples of an input) |" in markdown


def test_validation_callback_logs_monitorable_metrics(tmp_path):
    callback = EvaluationCallback(num_inputs=3, num_samples=3, **fakes(tmp_path))
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/fid", mode="min")
    trainer = make_trainer(
        tmp_path, callbacks=[callback, checkpoint], enable_checkpointing=True, max_epochs=2, limit_train_batches=1
    )
    trainer.fit(make_module(), datamodule=PairData())

    assert "val/lpips_diversity" in trainer.callback_metrics
    assert "val/fid" in trainer.callback_metrics
    assert checkpoint.best_model_score is not None
    assert checkpoint.best_model_score.item() == pytest.approx(min(s.item() for s in checkpoint.best_k_models.values()))
    # Two epochs of 3 inputs x 3 samples, and the 3 real images only once.
    assert sum(callback.fid_score.fid.inception.calls) == 2 * 9 + 3


def test_validation_callback_respects_its_interval(tmp_path):
    callback = EvaluationCallback(every_n_epochs=2, num_inputs=2, num_samples=2, **fakes(tmp_path))
    trainer = make_trainer(tmp_path, callbacks=[callback], max_epochs=1, limit_train_batches=1)
    trainer.fit(make_module(), datamodule=PairData())
    assert "val/lpips_diversity" not in trainer.callback_metrics


def test_callbacks_are_configurable_from_yaml():
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_argument("--callbacks", type=list[pl.Callback])
    config = parser.parse_string(
        """
        callbacks:
          - class_path: bgan_lightning.metrics.evaluation.EvaluationCallback
            init_args: {every_n_epochs: 5, num_inputs: 50, pairs: random, version: "0.0"}
          - class_path: bgan_lightning.metrics.evaluation.TestReportCallback
            init_args: {max_inputs: null, num_samples: 10, fid: false}
        """
    )
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    evaluation, report = instantiate(config).callbacks

    assert (evaluation.every_n_epochs, evaluation.num_inputs, evaluation.pairs) == (5, 50, "random")
    assert evaluation.version == "0.0"
    assert (report.max_inputs, report.num_samples, report.fid) == (None, 10, False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_samples": 1}, "num_samples must be at least 2 to measure diversity, got 1"),
        ({"pairs": "all"}, "Invalid pairs 'all'"),
        ({"net": "squeeze"}, "Invalid LPIPS net 'squeeze'"),
        ({"max_inputs": 0}, "The number of inputs must be at least 1 or None \\(all\\), got 0"),
    ],
)
def test_invalid_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TestReportCallback(**kwargs)


def test_every_n_epochs_must_not_be_negative():
    with pytest.raises(ValueError, match="every_n_epochs must be >= 0, got -1"):
        EvaluationCallback(every_n_epochs=-1)


def test_module_without_sample_is_rejected(tmp_path):
    class Plain(pl.LightningModule):
        def test_step(self, batch, batch_idx):
            return None

    trainer = make_trainer(tmp_path, callbacks=[TestReportCallback(**fakes(tmp_path))])
    with pytest.raises(RuntimeError, match="Plain has no sample\\(condition, num_samples, seed\\) method"):
        trainer.test(Plain(), datamodule=PairData(), verbose=False)


class HeldOutPairData(PairData):
    """A datamodule that, like one without a test split, evaluates a hold-out of train and says so."""

    test_split_name = "train (held-out 10%)"


def test_split_label_and_cache_name_come_from_the_datamodule(tmp_path):
    callback = TestReportCallback(max_inputs=3, num_samples=3, **fakes(tmp_path))
    trainer = make_trainer(tmp_path, callbacks=[callback])

    trainer.test(make_module(), datamodule=HeldOutPairData(), verbose=False)

    assert "| Split | train (held-out 10%) |" in (tmp_path / "test_report" / "report.md").read_text()
    cached = list((tmp_path / "fid_stats").glob("*.npz"))
    assert [path.name.rsplit("-", 2)[0] for path in cached] == ["tiny_pairs-AtoB-train_held_out_10_-16x16-n5-d12"]
    assert callback.protocol(trainer)["split"] == "train (held-out 10%)"


def test_strips_of_an_earlier_report_are_removed(tmp_path, caplog):
    folder = tmp_path / "report"
    strips = folder / "strips"
    strips.mkdir(parents=True)
    for index in range(5, 12):
        (strips / f"{index:05d}_pair_{index}.png").write_bytes(b"stale")
    (strips / "notes.txt").write_text("kept")
    (strips / "cover.png").write_bytes(b"kept")

    with caplog.at_level("INFO", logger="bgan_lightning.metrics.report"):
        run_test(tmp_path, output_dir=str(folder))

    assert f"Removed 7 strips of an earlier report from {strips}" in caplog.text
    assert sorted(path.name for path in strips.iterdir()) == [f"0000{i}_pair_{i}.png" for i in range(5)] + [
        "cover.png",
        "notes.txt",
    ]
    assert (folder / "index.html").read_text().count("<img ") == 5
