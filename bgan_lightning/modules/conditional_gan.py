"""The conditional GAN system: wires a generator, a discriminator, losses and optimizers with Lightning."""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bgan_lightning.losses import (
    DIVERSITY_MODES,
    GAN_MODES,
    DiversityMode,
    GanMode,
    adversarial_loss,
    diversity_loss,
    feature_distance,
    feature_matching_loss,
)
from bgan_lightning.networks.common import check_choice
from bgan_lightning.networks.inpainting import hole_mask
from bgan_lightning.networks.sampling import StagedGenerator, check_count
from bgan_lightning.nn import latent_control, stochastic_modules
from bgan_lightning.nn.latent import check_seed

log = logging.getLogger(__name__)

DiscriminatorInput = Literal["pair", "hole"]
DISCRIMINATOR_INPUTS = ("pair", "hole")
DiversityDistance = Literal["pixels", "discriminator"]
DIVERSITY_DISTANCES = ("pixels", "discriminator")


def _given_cli_hyperparameters() -> bool:
    """Return whether LightningCLI is instantiating this module with its config as the hyperparameters."""
    # NOTE: this reads a private Lightning context variable (pytorch-lightning 2.1 to 2.6). When it is missing,
    # the module falls back to not saving the injected networks, which only costs self-contained checkpoints.
    try:
        from pytorch_lightning.core.mixins.hparams_mixin import _given_hyperparameters
    except ImportError:
        return False
    return _given_hyperparameters.get() is not None


class ConditionalGAN(pl.LightningModule):
    """pix2pix-style conditional GAN with manual optimization, for plain and BasisGAN generators.

    Each training batch draws ``fake = G(A)`` once (every stochastic layer samples fresh latents, one per
    sample) and reuses it for the discriminator step on ``(A, B)`` against ``(A, fake.detach())`` and for the
    generator step on ``D(A, fake)`` plus ``lambda_l1 * L1(fake, B)`` and, for pix2pixHD, feature matching and
    perceptual terms. Calling G a second time would draw different filters.

    Args:
        generator: Maps a condition (B, input_nc, H, W) in [-1, 1] to an image (B, output_nc, H, W) in [-1, 1].
            Generators of :mod:`bgan_lightning.networks` also provide ``sample(condition, num_samples, seed)``.
        discriminator: Judges the condition and an image concatenated along channels,
            (B, input_nc + output_nc, H, W), or with ``discriminator_input="hole"`` the image alone,
            (B, output_nc, H, W).
        gan_mode: ``"vanilla"`` (pix2pix), ``"lsgan"`` (pix2pixHD) or ``"hinge"``.
        lambda_l1: Weight of the L1 reconstruction loss (100 in pix2pix, 0 in pix2pixHD).
        lambda_feat: Weight of discriminator feature matching (10 in pix2pixHD); needs a discriminator that
            returns intermediate features.
        perceptual_loss: Optional module mapping (fake, real) in [-1, 1] to a scalar, such as
            :class:`bgan_lightning.losses_perceptual.VGGPerceptualLoss`.
        lambda_perceptual: Weight of ``perceptual_loss`` (10 in pix2pixHD).
        diversity_mode: None (BasisGAN and pix2pix need no diversity term), ``"msgan"`` or ``"dsgan"``. With a
            mode set, each batch draws two images from two latents shared by all stochastic layers (the
            BasisGAN+DSGAN variant, and the MSGAN and DSGAN baselines with a latent-input generator).
        lambda_diversity: Weight of the diversity term.
        diversity_tau: DSGAN's bound on the distance ratio.
        diversity_distance: How the diversity term measures the distance between two outputs: ``"pixels"``
            (mean absolute difference) or ``"discriminator"`` (weighted L1 between the discriminator's
            intermediate features, :func:`bgan_lightning.losses.feature_distance`, as DSGAN's inpainting model
            does); the latter needs a discriminator that returns its features.
        lr: Adam learning rate of both networks.
        beta1: Adam beta1.
        beta2: Adam beta2.
        decay_start_epoch: Epoch from which both learning rates decay linearly to zero over ``decay_epochs``
            epochs, as pix2pix does (100 constant then 100 decaying epochs); None keeps them constant.
        decay_epochs: Length of the linear decay in epochs.
        num_val_samples: Samples per input drawn in ``validation_step`` and written by prediction.
        sample_seed: Base seed of evaluation sampling; input ``i`` of a split uses ``sample_seed + i``.
        discriminator_input: ``"pair"`` (default) shows the discriminator the condition and the image.
            ``"hole"`` shows it only the image inside the inpainting hole and zeros elsewhere (the hole is
            where the condition's last channel is above 0), as DSGAN's inpainting model does, so that it
            judges the filled region alone.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        gan_mode: GanMode = "vanilla",
        lambda_l1: float = 100.0,
        lambda_feat: float = 0.0,
        perceptual_loss: nn.Module | None = None,
        lambda_perceptual: float = 0.0,
        diversity_mode: DiversityMode | None = None,
        lambda_diversity: float = 1.0,
        diversity_tau: float = 1.0,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        decay_start_epoch: int | None = None,
        decay_epochs: int = 100,
        num_val_samples: int = 4,
        sample_seed: int = 0,
        discriminator_input: DiscriminatorInput = "pair",
        diversity_distance: DiversityDistance = "pixels",
    ) -> None:
        super().__init__()
        check_choice("diversity_distance", diversity_distance, DIVERSITY_DISTANCES)
        check_choice("discriminator_input", discriminator_input, DISCRIMINATOR_INPUTS)
        check_choice("gan_mode", gan_mode, GAN_MODES)
        if lambda_perceptual > 0 and perceptual_loss is None:
            raise ValueError(
                f"lambda_perceptual={lambda_perceptual} needs a perceptual_loss module; pass one or set it to 0."
            )
        if diversity_mode is not None and diversity_mode not in DIVERSITY_MODES:
            raise ValueError(f"Invalid diversity_mode {diversity_mode!r}; expected None or one of {DIVERSITY_MODES}.")
        if decay_epochs < 1:
            raise ValueError(f"decay_epochs must be at least 1, got {decay_epochs}.")
        if num_val_samples < 1:
            raise ValueError(f"num_val_samples must be at least 1, got {num_val_samples}.")
        # Under LightningCLI the injected networks are saved as their configs, so checkpoints rebuild them.
        ignore = [] if _given_cli_hyperparameters() else ["generator", "discriminator", "perceptual_loss"]
        self.save_hyperparameters(ignore=ignore)
        self.automatic_optimization = False

        self.generator = generator
        self.discriminator = discriminator
        self.perceptual_loss = perceptual_loss
        self.data_info: dict[str, Any] = {}
        self._inputs_seen = 0
        self.shared_latent_dim = max((m.latent_dim for _, m in stochastic_modules(generator)), default=0)
        if diversity_mode is not None and self.shared_latent_dim == 0:
            raise ValueError(
                f"diversity_mode={diversity_mode!r} needs a generator with stochastic layers or a latent input, "
                f"but {type(generator).__name__} has none; set diversity_mode to None."
            )

    # ------------------------------------------------------------------ sampling
    def forward(self, condition: Tensor) -> Tensor:
        """Draw one image per condition with fresh latents: (B, C_a, H, W) -> (B, C_b, H, W), both in [-1, 1].

        With a diversity mode set, all stochastic layers share one latent per sample, as in training.
        """
        if self.hparams.diversity_mode is None:
            return self.generator(condition)
        with latent_control(self.generator, shared=True):
            return self.generator(condition)

    @torch.no_grad()
    def sample(self, condition: Tensor, num_samples: int, seed: int | Sequence[int] | None = None) -> Tensor:
        """Draw ``num_samples`` images per condition, reproducibly when seeded.

        Args:
            condition: (B, C_a, H, W) in [-1, 1].
            num_samples: Samples S per input.
            seed: One seed for the batch, one seed per input (so that results do not depend on how inputs are
                batched), or None for the global RNG.

        Returns:
            (B, S, C_b, H, W) in [-1, 1].
        """
        check_count("num_samples", num_samples)
        if getattr(seed, "ndim", None) == 0:
            seed = check_seed(seed)  # A 0-d tensor or NumPy array.
        if seed is not None and not isinstance(seed, numbers.Integral):
            if isinstance(seed, (str, bytes, set, frozenset, dict)) or not isinstance(seed, Iterable):
                raise TypeError(
                    f"seed must be an integer, one integer per input (in order), or None, got {seed!r} of type "
                    f"{type(seed).__name__}."
                )
            seeds = [check_seed(value) for value in seed]
            if len(seeds) != condition.shape[0]:
                raise ValueError(f"Got {len(seeds)} seeds for a batch of {condition.shape[0]} inputs; pass one each.")
            if not seeds:
                return self.sample(condition, num_samples)
            return torch.cat([self.sample(condition[i : i + 1], num_samples, s) for i, s in enumerate(seeds)])

        # A generator trained with a diversity term saw one latent shared by all its layers, so it samples so too.
        shared = self.hparams.diversity_mode is not None
        if isinstance(self.generator, StagedGenerator):
            return self.generator.sample(condition, num_samples, seed=seed, shared=shared)
        # Any other generator: repeat the inputs and run them as one batch.
        repeated = condition.repeat_interleave(num_samples, dim=0)
        with latent_control(self.generator, seed=seed, shared=shared):
            fake = self.generator(repeated)
        return fake.view(condition.shape[0], num_samples, *fake.shape[1:])

    # ------------------------------------------------------------------ training
    def _discriminate(self, condition: Tensor, image: Tensor):
        if self.hparams.discriminator_input == "hole":
            return self.discriminator(image * hole_mask(condition))
        return self.discriminator(torch.cat([condition, image], dim=1))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        condition, target = batch["A"], batch["B"]

        # One generator forward per batch: both steps must see the same sampled filters.
        latents = None
        if self.hparams.diversity_mode is None:
            fake = self.generator(condition)
        else:
            latents = torch.randn(2, len(condition), self.shared_latent_dim, device=condition.device)
            with latent_control(self.generator, latents=latents[0]):
                fake = self.generator(condition)
            with latent_control(self.generator, latents=latents[1]):
                fake_2 = self.generator(condition)

        # Discriminator step: real pairs against generated pairs.
        self.toggle_optimizer(opt_d)
        real_output = self._discriminate(condition, target)
        fake_output = self._discriminate(condition, fake.detach())
        d_loss_real = adversarial_loss(real_output, True, self.hparams.gan_mode)
        d_loss_fake = adversarial_loss(fake_output, False, self.hparams.gan_mode)
        d_loss = 0.5 * (d_loss_real + d_loss_fake)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        # Generator step: fool the discriminator and stay close to the target.
        self.toggle_optimizer(opt_g)
        fake_output = self._discriminate(condition, fake)
        g_gan = adversarial_loss(fake_output, True, self.hparams.gan_mode, for_discriminator=False)
        l1 = F.l1_loss(fake, target)
        g_loss = g_gan + self.hparams.lambda_l1 * l1
        logs = {"train/g_gan": g_gan, "train/l1": l1}
        if self.hparams.lambda_feat > 0:
            with torch.no_grad():
                real_output = self._discriminate(condition, target)
            feat = feature_matching_loss(fake_output, real_output)
            g_loss = g_loss + self.hparams.lambda_feat * feat
            logs["train/feat"] = feat
        if self.perceptual_loss is not None and self.hparams.lambda_perceptual > 0:
            perceptual = self.perceptual_loss(fake, target)
            g_loss = g_loss + self.hparams.lambda_perceptual * perceptual
            logs["train/perceptual"] = perceptual
        if latents is not None:
            distance = None
            if self.hparams.diversity_distance == "discriminator":
                distance = feature_distance(fake_output, self._discriminate(condition, fake_2))
            diversity = diversity_loss(
                fake,
                fake_2,
                latents[0],
                latents[1],
                self.hparams.diversity_mode,
                tau=self.hparams.diversity_tau,
                output_distance=distance,
            )
            g_loss = g_loss + self.hparams.lambda_diversity * diversity
            logs["train/diversity"] = diversity
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        logs["train/d_loss"] = d_loss
        self.log_dict({key: value.detach() for key, value in logs.items()}, batch_size=len(condition))
        self.log("train/g_loss", g_loss.detach(), prog_bar=True, batch_size=len(condition))

    # ------------------------------------------------------------------ validation, test and predict
    def _input_seeds(self, batch_size: int) -> list[int]:
        """Per-input seeds ``sample_seed + i`` by position ``i`` in the split, so batching does not change samples."""
        start = self._inputs_seen
        self._inputs_seen += batch_size
        return [self.hparams.sample_seed + start + i for i in range(batch_size)]

    def on_validation_epoch_start(self) -> None:
        self._inputs_seen = 0

    def on_test_epoch_start(self) -> None:
        self._inputs_seen = 0

    def on_predict_epoch_start(self) -> None:
        self._inputs_seen = 0

    def _evaluate(self, batch: dict[str, Any], stage: str) -> None:
        condition, target = batch["A"], batch["B"]
        samples = self.sample(condition, self.hparams.num_val_samples, seed=self._input_seeds(len(condition)))

        # L1 of the first sample measures fidelity; the spread between samples is a cheap diversity signal.
        l1 = F.l1_loss(samples[:, 0], target)
        spread = (samples - samples.mean(dim=1, keepdim=True)).abs().mean()
        self.log(f"{stage}/l1", l1, sync_dist=True, batch_size=len(condition))
        self.log(f"{stage}/sample_spread", spread, sync_dist=True, batch_size=len(condition))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Log ``test/l1`` and ``test/sample_spread``; LPIPS diversity and FID come from the test report callback."""
        self._evaluate(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """Return S seeded samples per input; a prediction writer callback saves them."""
        condition = batch["A"]
        samples = self.sample(condition, self.hparams.num_val_samples, seed=self._input_seeds(len(condition)))
        return {"A": condition, "B": batch.get("B"), "samples": samples, "path": batch.get("path")}

    # ------------------------------------------------------------------ optimizers and checkpoints
    def configure_optimizers(self):
        betas = (self.hparams.beta1, self.hparams.beta2)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr, betas=betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.hparams.lr, betas=betas)
        if self.hparams.decay_start_epoch is None:
            return [opt_g, opt_d]

        def linear_decay(epoch: int) -> float:
            # The factor of epoch `epoch`: 1 before the start, then (decay_epochs - k) / (decay_epochs + 1) in the
            # k-th decaying epoch, so the last of them still trains and the rate reaches 0 once they are over.
            decayed = max(0, epoch - self.hparams.decay_start_epoch + 1)
            return max(0.0, 1.0 - decayed / (self.hparams.decay_epochs + 1))

        schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, linear_decay) for opt in (opt_g, opt_d)]
        return [opt_g, opt_d], schedulers

    def on_train_epoch_end(self) -> None:
        # Manual optimization leaves scheduler stepping to the module.
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    def setup(self, stage: str) -> None:
        # Record what the data looks like, so a checkpoint records which direction, size and channels it expects.
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is None:
            return
        for key in ("dataset_name", "direction", "load_size", "crop_size", "input_nc", "output_nc"):
            value = getattr(datamodule, key, None)
            if value is not None:
                self.data_info[key] = value
        self._check_channels()

    def _check_channels(self) -> None:
        for key in ("input_nc", "output_nc"):
            expected = getattr(self.generator, key, None)
            given = self.data_info.get(key)
            if expected is not None and given is not None and expected != given:
                raise ValueError(
                    f"The data has {key}={given} but the generator was built with {key}={expected}; "
                    f"set the generator's {key} to {given} in the model config."
                )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["bgan_data"] = dict(self.data_info)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lightning runs setup() before restoring, so data_info already describes the data of this run, if any.
        saved = dict(checkpoint.get("bgan_data", {}))
        differences = [
            f"{key} {saved[key]!r} in the checkpoint, {value!r} now"
            for key, value in self.data_info.items()
            if key in saved and saved[key] != value
        ]
        if differences:
            log.warning(
                "The checkpoint was trained on other data (%s); check the data config, for example the direction.",
                "; ".join(differences),
            )
        self.data_info = {**saved, **self.data_info}
