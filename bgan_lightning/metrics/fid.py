"""FID of conditional samples: every sample of every input against the real targets of the split.

Wraps torchmetrics' :class:`~torchmetrics.image.fid.FrechetInceptionDistance`, whose states are running sums
of features and of their outer products, so memory stays the same however many images are seen. Real-image
statistics are the expensive half of the computation and do not change between evaluations. They are cached
on disk as those sums and reloaded, so repeated evaluations only extract features of the generated images.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.image.fid import FrechetInceptionDistance

from bgan_lightning.atomic_file import atomic_file
from bgan_lightning.images import to_uint8
from bgan_lightning.metrics.lpips_diversity import check_image_range, to_three_channels

log = logging.getLogger(__name__)

_REAL_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def sum_over_ranks(value: int, device: torch.device) -> int:
    """Sum of an integer over all ranks (the value itself when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    total = torch.tensor(value, dtype=torch.long, device=device)
    dist.all_reduce(total)
    return int(total)


def _broadcast_flag(flag: bool) -> bool:
    """Rank 0's value of ``flag`` on every rank (the value itself when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    box = [flag]
    dist.broadcast_object_list(box, src=0)
    return bool(box[0])


def module_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 (16 hex digits) of a module's class name and state dict, identifying its weights."""
    digest = hashlib.sha256(type(module).__name__.encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def content_fingerprint(images: Tensor) -> str:
    """SHA-256 (8 hex digits) of images in [-1, 1] at the uint8 levels that the metrics see."""
    return hashlib.sha256(to_uint8(images).contiguous().numpy().tobytes()).hexdigest()[:8]


def real_statistics_path(
    cache_dir: str | Path,
    dataset: str,
    split: str,
    image_size: tuple[int, int],
    num_images: int,
    num_features: int,
    weights_id: str,
    direction: str | None = None,
    content_id: str | None = None,
) -> Path:
    """Cache file of the real statistics of one split, named by everything that changes them.

    Args:
        cache_dir: Folder of the cache files.
        dataset: Dataset name, such as ``"facades"``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        image_size: (H, W) of the real images as fed to the metric.
        num_images: Real images in the statistics.
        num_features: Feature dimension (2048 for the pool features).
        weights_id: Identifier of the feature extractor's weights (see :func:`module_fingerprint`).
        direction: ``"AtoB"`` or ``"BtoA"`` for paired folders, since it decides which half is the target.
        content_id: Fingerprint of some of the real images (see :func:`content_fingerprint`). It separates
            subsets and preprocessing settings that share every other part of the name.

    Returns:
        ``<cache_dir>/<dataset>[-<direction>]-<split>-<H>x<W>-n<N>-d<D>-<weights_id>[-<content_id>].npz``.
    """
    parts = [dataset] + ([direction] if direction else []) + [split]
    parts += [f"{image_size[0]}x{image_size[1]}", f"n{num_images}", f"d{num_features}", weights_id]
    parts += [content_id] if content_id else []
    name = "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", str(part)) for part in parts)
    return Path(cache_dir) / f"{name}.npz"


class SampleFID(Metric):
    """FID between generated samples and real images, with real statistics that can be cached on disk.

    Generated images are all samples of every input, passed as (N, S, C, H, W) or (N, C, H, W). Real images
    are the split's targets. Images are float in [-1, 1] with 1 or 3 channels. They are converted to uint8
    with :func:`bgan_lightning.images.to_uint8` (rounding) and passed to the wrapped metric as uint8, or as
    those levels divided by 255 when its ``normalize`` flag is set. The feature extractor resizes them itself.

    :meth:`reset` clears the generated images only; :meth:`reset_real` clears the real statistics too. State
    sizes are fixed (a D vector and a D x D matrix per side), so memory stays flat across evaluations. Under
    DDP the wrapped metric sums its states across ranks when computing, so every rank gets the same FID.

    Args:
        feature: Inception feature dimension used when ``fid`` is None (2048: the pool features).
        fid: A built :class:`FrechetInceptionDistance`; None builds ``build_fid(feature)`` from the resolved
            offline-capable weights. Its ``reset_real_features`` is set to False.
        weights_id: Identifier of the feature extractor's weights for cache file names; None uses the
            ``weights_id`` attribute of ``fid`` or of its feature extractor, else a hash of the weights.
        allow_nonnegative: Accept images without negative values (see
            :func:`bgan_lightning.metrics.lpips_diversity.check_image_range`).
        feature_batch_size: Images sent through the feature extractor at once; bounds memory when an update
            holds all S samples of a batch of inputs.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(
        self,
        feature: int = 2048,
        fid: FrechetInceptionDistance | None = None,
        weights_id: str | None = None,
        allow_nonnegative: bool = False,
        feature_batch_size: int = 64,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if feature_batch_size < 1:
            raise ValueError(f"feature_batch_size must be at least 1, got {feature_batch_size}.")
        if fid is None:
            from bgan_lightning.metrics.inception import build_fid

            fid = build_fid(feature=feature)
        fid.reset_real_features = False
        self.fid = fid
        self.allow_nonnegative = allow_nonnegative
        self.feature_batch_size = feature_batch_size
        self._weights_id = weights_id or getattr(fid, "weights_id", None) or getattr(fid.inception, "weights_id", None)
        self._real_source: Path | None = None

    @property
    def num_features(self) -> int:
        """Feature dimension D of the wrapped metric."""
        return int(self.fid.fake_features_sum.shape[0])

    @property
    def num_real(self) -> int:
        """Real images in the statistics on this rank."""
        return int(self.fid.real_features_num_samples)

    @property
    def num_fake(self) -> int:
        """Generated images seen on this rank since the last reset."""
        return int(self.fid.fake_features_num_samples)

    @property
    def weights_id(self) -> str:
        """Identifier of the feature extractor's weights, as used in cache file names."""
        if self._weights_id is None:
            self._weights_id = module_fingerprint(self.fid.inception)
        return self._weights_id

    def _prepare(self, images: Tensor) -> Tensor:
        if images.dim() == 5:
            images = images.flatten(0, 1)
        if images.dim() != 4:
            raise ValueError(f"FID images must be (N, C, H, W) or (N, S, C, H, W), got shape {tuple(images.shape)}.")
        check_image_range(images, "FID images", self.allow_nonnegative)
        levels = to_uint8(to_three_channels(images)).to(images.device)
        return levels.float() / 255 if self.fid.normalize else levels

    def update(self, images: Tensor, real: bool = False) -> None:
        """Add generated (``real=False``) or real images.

        Args:
            images: (N, C, H, W) or (N, S, C, H, W) float in [-1, 1], C of 1 or 3.
            real: Whether these are real targets.
        """
        for chunk in self._prepare(images).split(self.feature_batch_size):
            self.fid.update(chunk, real=real)

    def compute(self) -> Tensor:
        """FID of the generated images against the real statistics (a float scalar; lower is better).

        Raises:
            ValueError: With fewer than 2 real or 2 generated images over all ranks.
        """
        device = self.fid.fake_features_sum.device
        num_real = sum_over_ranks(self.num_real, device)
        num_fake = sum_over_ranks(self.num_fake, device)
        if num_real < 2 or num_fake < 2:
            raise ValueError(
                f"FID needs at least 2 real and 2 generated images, got {num_real} real and {num_fake} generated; "
                "evaluate more inputs or samples."
            )
        if min(num_real, num_fake) < self.num_features:
            message = (
                f"FID from {num_real} real and {num_fake} generated images with {self.num_features}-d features: "
                f"fewer images than feature dimensions make the covariance rank-deficient and the FID biased upward; "
                "compare it only with FIDs computed from the same numbers of images."
            )
            warnings.warn(message, UserWarning, stacklevel=2)
        return self.fid.compute()

    def reset(self) -> None:
        """Clear the generated images; the real statistics stay."""
        super().reset()
        self.fid.reset()

    def reset_real(self) -> None:
        """Clear the real statistics as well as the generated images."""
        for name in _REAL_STATES:
            getattr(self.fid, name).zero_()
        self._real_source = None
        self.reset()

    # ------------------------------------------------------------------ cache of real statistics
    def load_real_statistics(self, path: str | Path) -> bool:
        """Use cached real statistics from ``path`` if it exists; call on every rank.

        Rank 0 checks for the file and loads it. Other ranks clear their real states, so the sum over ranks
        counts the cached statistics once. Statistics already loaded from or saved to ``path`` are kept as they are.

        Returns:
            Whether real statistics for ``path`` are now in place (then no real image needs to be added).
        """
        path = Path(path)
        if self._real_source == path:
            return True
        found = _broadcast_flag(path.is_file())
        if not found:
            return False
        for name in _REAL_STATES:
            getattr(self.fid, name).zero_()
        if _rank() == 0:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta["num_features"] != self.num_features:
                    raise ValueError(
                        f"{path} contains {meta['num_features']}-d statistics but the metric uses "
                        f"{self.num_features}-d features; delete the file or use another cache folder."
                    )
                for name in _REAL_STATES:
                    state = getattr(self.fid, name)
                    state.copy_(torch.from_numpy(data[name]).to(state.device, state.dtype))
            log.info("Loaded real FID statistics of %d images from %s", meta["num_images"], path)
        self._real_source = path
        return True

    def save_real_statistics(self, path: str | Path, **meta) -> Path:
        """Write the real statistics summed over ranks to ``path`` atomically; call on every rank.

        Args:
            path: Destination ``.npz`` (see :func:`real_statistics_path`).
            **meta: Extra JSON-serialisable facts stored beside the sums (dataset, split, ...).

        Returns:
            The destination path.
        """
        path = Path(path)
        with self.fid.sync_context(should_unsync=True):
            arrays = {name: getattr(self.fid, name).detach().cpu().numpy() for name in _REAL_STATES}
        num_images = int(arrays["real_features_num_samples"])
        if num_images < 2:
            raise ValueError(f"Refusing to cache real FID statistics of {num_images} images; add real images first.")
        if _rank() == 0:
            info = {"num_images": num_images, "num_features": self.num_features, "weights_id": self.weights_id, **meta}
            with atomic_file(path, "wb") as handle:
                np.savez(handle, meta=np.array(json.dumps(info, sort_keys=True)), **arrays)
            log.info("Cached real FID statistics of %d images in %s", num_images, path)
        self._real_source = path
        return path
