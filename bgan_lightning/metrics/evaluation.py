"""Lightning callbacks that run the evaluation protocol: LPIPS diversity, FID and, where modes are known, the oracle.

:class:`TestReportCallback` evaluates the test split in ``bgan test`` and writes a report folder;
:class:`EvaluationCallback` evaluates a fixed subset of the validation split every k epochs during fit and
logs ``val/lpips_diversity`` and ``val/fid`` for checkpoint selection. Both draw S samples per input with
``pl_module.sample`` and per-input seeds ``seed + i`` (``i`` the input's position in the split), so their
samples equal those of ``bgan predict`` with the same seed and never depend on the global RNG or on batching.

Under DDP, positions are derived from Lightning's ``DistributedSampler`` layout (rank ``r`` gets positions
``r, r + W, r + 2W, ...``), the inputs it repeats to even out the ranks are skipped, and every metric is
synchronised, so every rank logs the same numbers. A custom or shuffling sampler changes which seed an input
gets, but not the protocol's counts.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

from bgan_lightning.callbacks.run_folder import run_folder
from bgan_lightning.metrics.fid import SampleFID, content_fingerprint, real_statistics_path, sum_over_ranks
from bgan_lightning.metrics.lpips_diversity import (
    LPIPSDiversity,
    PairMode,
    check_diversity_settings,
    derive_seed,
)
from bgan_lightning.metrics.oracle import ModeOracle
from bgan_lightning.metrics.report import remove_strips, write_report, write_strip

log = logging.getLogger(__name__)


def default_fid_stats_dir() -> Path:
    """Folder of cached real FID statistics: ``$BGAN_FID_STATS_DIR``, else ``~/.cache/bgan_lightning/fid_stats``."""
    folder = os.environ.get("BGAN_FID_STATS_DIR")
    return Path(folder) if folder else Path.home() / ".cache" / "bgan_lightning" / "fid_stats"


def _describe_weights(module: nn.Module) -> str:
    """Describe where a metric network's weights came from, from the attributes its builder set."""
    for attribute in ("weights_sources", "weights_source", "weights_id"):
        value = getattr(module, attribute, None)
        if value:
            return value if isinstance(value, str) else "; ".join(f"{k}: {v}" for k, v in dict(value).items())
    return f"{type(module).__name__} (source not recorded)"


class _ProtocolCallback(pl.Callback):
    """Shared machinery: per-input seeds, metric updates, strip writing and logging of one evaluation pass."""

    def __init__(
        self,
        max_inputs: int | None,
        num_samples: int,
        pairs: PairMode,
        num_pairs: int | None,
        net: str,
        version: str,
        trials: int,
        fid: bool,
        fid_feature: int,
        fid_cache_dir: str | None,
        cache_real_statistics: bool,
        seed: int | None,
        oracle: bool,
        allow_nonnegative: bool,
        lpips: nn.Module | None,
        fid_metric: FrechetInceptionDistance | None,
    ) -> None:
        if max_inputs is not None and max_inputs < 1:
            raise ValueError(f"The number of inputs must be at least 1 or None (all), got {max_inputs}.")
        if num_samples < 2:
            raise ValueError(f"num_samples must be at least 2 to measure diversity, got {num_samples}.")
        check_diversity_settings(net, version, pairs, trials)
        self.max_inputs = max_inputs
        self.num_samples = num_samples
        self.pairs = pairs
        self.num_pairs = num_pairs
        self.net = net
        self.version = str(version)
        self.trials = trials
        self.fid = fid
        self.fid_feature = fid_feature
        self.fid_cache_dir = fid_cache_dir
        self.cache_real_statistics = cache_real_statistics
        self.seed = seed
        self.oracle = oracle
        self.allow_nonnegative = allow_nonnegative
        self._lpips = lpips
        self._fid_metric = fid_metric

        self.diversity: LPIPSDiversity | None = None
        self.fid_score: SampleFID | None = None
        self.mode_oracle: ModeOracle | None = None
        self.last_results: dict[str, float] = {}
        self._real_key: tuple | None = None
        self._real_origin = "none"
        self._real_path: Path | None = None

    # ------------------------------------------------------------------ one evaluation pass
    def _begin(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        split: str,
        limit: int | None,
        split_name: str | None = None,
    ) -> None:
        """Start a pass over the ``split`` loaders (``"test"`` or ``"val"``), labelled ``split_name`` or ``split``."""
        if not callable(getattr(pl_module, "sample", None)):
            raise RuntimeError(
                f"{type(pl_module).__name__} has no sample(condition, num_samples, seed) method; the evaluation "
                "callbacks need one (ConditionalGAN provides it)."
            )
        self._build_metrics(pl_module.device)
        datamodule = getattr(trainer, "datamodule", None)
        data_info = getattr(pl_module, "data_info", {}) or {}
        hparams = getattr(pl_module, "hparams", {}) or {}

        self._split_name = split_name or split
        self._limit = limit
        self._base_seed = int(self.seed if self.seed is not None else hparams.get("sample_seed", 0))
        self.diversity.seed = self._base_seed
        self._dataset = getattr(datamodule, "dataset_name", None) or data_info.get("dataset_name")
        self._direction = getattr(datamodule, "direction", None) or data_info.get("direction")
        self._position = 0
        self._num_inputs = 0
        self._num_diversity_inputs = 0
        self._image_size: tuple[int, int] | None = None
        self._needs_real = False
        self._entries: list[dict[str, Any]] = []
        self._dataset_length, self._expected_inputs = self._count_inputs(trainer, split, limit)
        palette = getattr(datamodule, "palette", None)
        background = getattr(datamodule, "background", None)
        self._use_oracle = self.oracle and palette is not None and background is not None
        if self._use_oracle and (self.mode_oracle is None or self.mode_oracle.num_modes != len(palette)):
            self.mode_oracle = ModeOracle(palette, background, allow_nonnegative=self.allow_nonnegative)
        if self._use_oracle:
            self.mode_oracle = self.mode_oracle.to(pl_module.device)
            self.mode_oracle.reset()

    def _build_metrics(self, device: torch.device) -> None:
        if self.diversity is None:
            self.diversity = LPIPSDiversity(
                net=self.net,
                version=self.version,
                pairs=self.pairs,
                num_pairs=self.num_pairs,
                trials=self.trials,
                seed=0 if self.seed is None else self.seed,
                lpips=self._lpips,
                allow_nonnegative=self.allow_nonnegative,
            )
        if self.fid and self.fid_score is None:
            self.fid_score = SampleFID(
                feature=self.fid_feature, fid=self._fid_metric, allow_nonnegative=self.allow_nonnegative
            )
        self.diversity = self.diversity.to(device)
        self.diversity.reset()
        if self.fid_score is not None:
            self.fid_score = self.fid_score.to(device)
            self.fid_score.reset()

    @staticmethod
    def _count_inputs(trainer: pl.Trainer, split: str, limit: int | None) -> tuple[int | None, int | None]:
        """Return the length of the split's dataset and how many of its inputs this pass will see, or None."""
        loaders = trainer.test_dataloaders if split == "test" else trainer.val_dataloaders
        loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
        num_batches = trainer.num_test_batches if split == "test" else trainer.num_val_batches
        num_batches = num_batches[0] if isinstance(num_batches, (list, tuple)) else num_batches
        try:
            length = len(loader.dataset)
        except (AttributeError, TypeError):
            return None, None
        batch_size = getattr(loader, "batch_size", None)
        expected = length
        if batch_size is not None and num_batches != float("inf"):
            expected = min(length, int(num_batches) * batch_size * trainer.world_size)
        if limit is not None:
            expected = min(expected, limit)
        return length, expected

    def _decide_real_statistics(self, trainer: pl.Trainer, first_targets: Tensor) -> None:
        """Reuse real statistics from memory or disk, or mark them to be collected in this pass (first batch)."""
        # NOTE: only rank 0's first batch is fingerprinted, so a split that differs only in later images
        # (another hold-out with the same first batch) would reuse stale statistics.
        content_id = trainer.strategy.broadcast(content_fingerprint(first_targets), src=0)
        image_size = tuple(first_targets.shape[-2:])
        key = (self._split_name, self._dataset, self._direction, image_size, self._expected_inputs, content_id)
        if self._real_key == key:
            return
        self.fid_score.reset_real()
        self._real_key = None
        self._real_path = None
        if self.cache_real_statistics and self._dataset and self._expected_inputs:
            self._real_path = real_statistics_path(
                self.fid_cache_dir or default_fid_stats_dir(),
                self._dataset,
                self._split_name,
                image_size,
                self._expected_inputs,
                self.fid_score.num_features,
                self.fid_score.weights_id,
                self._direction,
                content_id,
            )
            if self.fid_score.load_real_statistics(self._real_path):
                self._real_key = key
                self._real_origin = f"loaded from {self._real_path}"
                return
        self._needs_real = True
        self._pending_key = key

    def _process_batch(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: dict[str, Any], folder: Path | None
    ) -> None:
        condition, target = batch["A"], batch.get("B")
        world, rank = trainer.world_size, trainer.global_rank
        positions = [(self._position + k) * world + rank for k in range(len(condition))]
        self._position += len(condition)
        if self._image_size is None:
            self._image_size = tuple((target if target is not None else condition).shape[-2:])
            if self.fid_score is not None:
                if target is None:
                    raise ValueError("FID needs the real targets batch['B'] of the split; set fid to false.")
                self._decide_real_statistics(trainer, target)

        # Keep the inputs of this split (not the sampler's repeats) that the pass covers.
        keep = [
            k
            for k, index in enumerate(positions)
            if (self._dataset_length is None or index < self._dataset_length)
            and (self._limit is None or index < self._limit)
        ]
        if not keep:
            return
        indices = [positions[k] for k in keep]
        condition = condition[keep]
        target = target[keep] if target is not None else None
        with torch.no_grad():
            samples = pl_module.sample(condition, self.num_samples, seed=[self._base_seed + i for i in indices])
        self._num_inputs += len(keep)

        # LPIPS diversity on the first max_inputs inputs, with fresh samples for every further trial.
        diverse = [k for k, index in enumerate(indices) if self.max_inputs is None or index < self.max_inputs]
        if diverse:
            diverse_indices = [indices[k] for k in diverse]
            self.diversity.update(samples[diverse], trial=0, indices=diverse_indices)
            for trial in range(1, self.trials):
                seeds = [derive_seed(self._base_seed, trial, index) for index in diverse_indices]
                with torch.no_grad():
                    again = pl_module.sample(condition[diverse], self.num_samples, seed=seeds)
                self.diversity.update(again, trial=trial, indices=diverse_indices)
            self._num_diversity_inputs += len(diverse)

        if self.fid_score is not None:
            self.fid_score.update(samples)
            if self._needs_real:
                self.fid_score.update(target, real=True)

        if self._use_oracle:
            if "region" not in batch:
                raise ValueError("The datamodule has a palette but its batches lack 'region'; set oracle to false.")
            self.mode_oracle.update(samples, batch["region"][keep])

        if folder is not None:
            for k, index in enumerate(indices):
                paths = batch.get("path")
                path = str(paths[keep[k]]) if paths is not None else None
                self._entries.append(write_strip(folder, index, condition[k], _item(target, k), samples[k], path))

    def _finish(self, trainer: pl.Trainer, pl_module: pl.LightningModule, prefix: str) -> dict[str, float]:
        """Compute, log under ``prefix/`` and reset every metric, then return the numbers."""
        totals = torch.tensor([self._num_inputs, self._num_diversity_inputs], device=pl_module.device)
        totals = trainer.strategy.reduce(totals, reduce_op="sum")
        self._total_inputs, self._total_diversity_inputs = (int(value) for value in totals)
        if self._total_inputs == 0:
            raise RuntimeError(f"The {self._split_name} split gave no inputs to evaluate; check its dataloader.")

        results: dict[str, float] = {}
        if self._total_diversity_inputs > 0:
            diversity = self.diversity.compute()
            results["lpips_diversity"] = float(diversity["mean"])
            results["lpips_diversity_std"] = float(diversity["std"])
        if self.fid_score is not None:
            if self._needs_real:
                self._store_real_statistics()
            counts = torch.tensor([self.fid_score.num_real, self.fid_score.num_fake], device=pl_module.device)
            self._fid_counts = [int(value) for value in trainer.strategy.reduce(counts, reduce_op="sum")]
            results["fid"] = float(self.fid_score.compute())
        if self._use_oracle:
            oracle = self.mode_oracle.compute()
            for name in ("mode_coverage", "mode_jsd", "shape_iou"):
                results[name] = float(oracle[name])

        for name, value in results.items():
            pl_module.log(f"{prefix}/{name}", value)
        self.last_results = results
        self.diversity.reset()
        if self.fid_score is not None:
            self.fid_score.reset()
        return results

    def _store_real_statistics(self) -> None:
        num_real = sum_over_ranks(int(self.fid_score.num_real), self.fid_score.fid.real_features_sum.device)
        if self._real_path is not None and num_real == self._expected_inputs:
            meta = {"dataset": self._dataset, "split": self._split_name, "direction": self._direction}
            self.fid_score.save_real_statistics(self._real_path, **meta)
            self._real_origin = f"computed from the split, cached in {self._real_path}"
        else:
            if self._real_path is not None:
                log.warning(
                    "Not caching real FID statistics: expected %s real images but saw %d.",
                    self._expected_inputs,
                    num_real,
                )
            self._real_origin = "computed from the split"
        self._real_key = self._pending_key
        self._needs_real = False

    def protocol(self, trainer: pl.Trainer) -> dict[str, Any]:
        """Return every setting of the last evaluation pass, for reports."""
        image_size = f"{self._image_size[0]}x{self._image_size[1]}" if self._image_size else None
        protocol: dict[str, Any] = {
            "dataset": self._dataset,
            "direction": self._direction,
            "split": self._split_name,
            "checkpoint": getattr(trainer, "ckpt_path", None),
            "num_inputs": self._total_inputs,
            "diversity_inputs": self._total_diversity_inputs,
            "num_samples": self.num_samples,
            "pairs": self.pairs,
            "num_pairs": self.num_pairs if self.pairs == "random" and self.num_pairs else self.num_samples - 1,
            "lpips_net": self.net,
            "lpips_version": self.version,
            "lpips_weights": _describe_weights(self.diversity.lpips),
            "trials": self.trials,
            "image_size": image_size,
            "seed": self._base_seed,
        }
        if self.fid_score is None:
            protocol["fid_feature"] = "FID off"
            return protocol
        protocol.update(
            fid_feature=self.fid_score.num_features,
            fid_real_images=self._fid_counts[0],
            fid_fake_images=self._fid_counts[1],
            fid_real_statistics=self._real_origin,
            fid_weights=self.fid_score.weights_id,
        )
        return protocol


def _item(tensor: Tensor | None, index: int) -> Tensor | None:
    return None if tensor is None else tensor[index]


def _gather_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not (dist.is_available() and dist.is_initialized()):
        return entries
    gathered: list[list[dict[str, Any]] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, entries)
    return [entry for part in gathered for entry in part or []]


class TestReportCallback(_ProtocolCallback):
    """Evaluate the test split by the published protocol and write a report folder.

    Every input of the test split gets S samples, and all of them enter FID against the split's real targets.
    The first ``max_inputs`` inputs enter LPIPS diversity. Every input gets a PNG strip (input, target,
    samples). ``test/lpips_diversity``, ``test/lpips_diversity_std`` and ``test/fid`` are logged, plus
    ``test/mode_coverage``, ``test/mode_jsd`` and ``test/shape_iou`` when the datamodule has a ``palette``
    and ``background`` (the ``multimodal_shapes`` dataset). The report (``metrics.json``, ``report.md``,
    ``index.html``, ``strips/``) states every protocol setting next to the numbers.

    The split is labelled, in the report and in the name of the cached real statistics, by the datamodule's
    ``test_split_name`` (such as ``"val"`` or ``"train (held-out 10%)"`` for a dataset without a test split),
    else ``"test"``. Strips left in ``strips/`` by an earlier report in the same folder are deleted first.

    Args:
        output_dir: Report folder; default ``<run folder>/test_report``.
        max_inputs: Inputs in LPIPS diversity (the first ones of the split); None uses all.
        num_samples: Samples S per input.
        pairs: ``"consecutive"`` (S - 1 pairs per input, BicycleGAN) or ``"random"`` (DSGAN).
        num_pairs: Random pairs per input; None means S - 1.
        net: LPIPS backbone, ``"alex"`` or ``"vgg"``.
        version: LPIPS version, ``"0.1"`` or ``"0.0"``.
        trials: Diversity trials; trial ``t > 0`` draws fresh samples with seeds derived from (seed, t, i).
        fid: Compute FID.
        fid_feature: Inception feature dimension (2048).
        fid_cache_dir: Folder of cached real statistics; default :func:`default_fid_stats_dir`.
        cache_real_statistics: Read and write that cache (needs a datamodule with ``dataset_name``).
        seed: Base seed; input ``i`` uses ``seed + i``. None uses the module's ``sample_seed``.
        oracle: Compute the mode oracle when the datamodule has a palette.
        strips: Write one PNG strip per input.
        allow_nonnegative: Accept samples without negative values (see ``check_image_range``).
        lpips: An LPIPS module to use instead of ``build_lpips(net, version)``.
        fid_metric: A ``FrechetInceptionDistance`` to use instead of ``build_fid(fid_feature)``.
    """

    __test__ = False  # not a pytest test class despite its name

    def __init__(
        self,
        output_dir: str | None = None,
        max_inputs: int | None = 100,
        num_samples: int = 20,
        pairs: PairMode = "consecutive",
        num_pairs: int | None = None,
        net: str = "alex",
        version: str = "0.1",
        trials: int = 1,
        fid: bool = True,
        fid_feature: int = 2048,
        fid_cache_dir: str | None = None,
        cache_real_statistics: bool = True,
        seed: int | None = None,
        oracle: bool = True,
        strips: bool = True,
        allow_nonnegative: bool = False,
        lpips: nn.Module | None = None,
        fid_metric: FrechetInceptionDistance | None = None,
    ) -> None:
        super().__init__(
            max_inputs,
            num_samples,
            pairs,
            num_pairs,
            net,
            version,
            trials,
            fid,
            fid_feature,
            fid_cache_dir,
            cache_real_statistics,
            seed,
            oracle,
            allow_nonnegative,
            lpips,
            fid_metric,
        )
        self.output_dir = output_dir
        self.strips = strips
        self.report_paths: dict[str, Path] = {}

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._folder = Path(self.output_dir) if self.output_dir else run_folder(trainer)
        if not self.output_dir:
            self._folder = self._folder / "test_report"

        # Strips of an earlier report in the same folder would otherwise sit beside the new ones.
        if trainer.is_global_zero:
            remove_strips(self._folder)
        trainer.strategy.barrier("test_report_strips_removed")

        # The datamodule may evaluate val or a train hold-out when the dataset has no test split.
        split_name = getattr(getattr(trainer, "datamodule", None), "test_split_name", None) or "test"
        self._begin(trainer, pl_module, "test", limit=None, split_name=split_name)

    def on_test_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if dataloader_idx == 0:
            self._process_batch(trainer, pl_module, batch, self._folder if self.strips else None)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        results = self._finish(trainer, pl_module, "test")
        entries = _gather_entries(self._entries)
        if trainer.is_global_zero:
            self.report_paths = write_report(self._folder, results, self.protocol(trainer), entries)


class EvaluationCallback(_ProtocolCallback):
    """Run the evaluation protocol on the first ``num_inputs`` validation inputs every ``every_n_epochs`` epochs.

    Logs ``val/lpips_diversity``, ``val/lpips_diversity_std`` and ``val/fid`` (and the oracle metrics for
    ``multimodal_shapes``) at the end of validation, so a ``ModelCheckpoint(monitor="val/fid", mode="min")``
    or ``monitor="val/lpips_diversity", mode="max"`` can select checkpoints. Give that ``ModelCheckpoint`` the
    same ``every_n_epochs``: in other epochs the keys are not logged. Add it from YAML::

        trainer:
          callbacks:
            - class_path: bgan_lightning.metrics.evaluation.EvaluationCallback
              init_args: {every_n_epochs: 5, num_inputs: 50, num_samples: 10}

    The real statistics of the subset are computed once and kept in memory. They are also cached on disk when
    the datamodule names its dataset. Later evaluations only extract features of the samples.

    Args:
        every_n_epochs: Evaluate after epochs where ``(epoch + 1) % every_n_epochs == 0``; 0 turns it off.
        num_inputs: Validation inputs evaluated (the first ones of the split), for diversity and FID.
        num_samples, pairs, num_pairs, net, version, trials, fid, fid_feature, fid_cache_dir,
        cache_real_statistics, seed, oracle, allow_nonnegative, lpips, fid_metric: As for
            :class:`TestReportCallback`.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        num_inputs: int = 20,
        num_samples: int = 10,
        pairs: PairMode = "consecutive",
        num_pairs: int | None = None,
        net: str = "alex",
        version: str = "0.1",
        trials: int = 1,
        fid: bool = True,
        fid_feature: int = 2048,
        fid_cache_dir: str | None = None,
        cache_real_statistics: bool = True,
        seed: int | None = None,
        oracle: bool = True,
        allow_nonnegative: bool = False,
        lpips: nn.Module | None = None,
        fid_metric: FrechetInceptionDistance | None = None,
    ) -> None:
        if every_n_epochs < 0:
            raise ValueError(f"every_n_epochs must be >= 0, got {every_n_epochs}.")
        super().__init__(
            num_inputs,
            num_samples,
            pairs,
            num_pairs,
            net,
            version,
            trials,
            fid,
            fid_feature,
            fid_cache_dir,
            cache_real_statistics,
            seed,
            oracle,
            allow_nonnegative,
            lpips,
            fid_metric,
        )
        self.every_n_epochs = every_n_epochs
        self.num_inputs = num_inputs
        self._active = False

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        k = self.every_n_epochs
        self._active = k > 0 and not trainer.sanity_checking and (trainer.current_epoch + 1) % k == 0
        if self._active:
            self._begin(trainer, pl_module, "val", limit=self.num_inputs)

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._active and dataloader_idx == 0:
            self._process_batch(trainer, pl_module, batch, None)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._active:
            self._finish(trainer, pl_module, "val")
            self._active = False
