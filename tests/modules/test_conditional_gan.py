from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from bgan_lightning.data.inpainting import masked_condition, square_mask
from bgan_lightning.modules import ConditionalGAN
from bgan_lightning.networks import InpaintingGenerator, MultiscaleDiscriminator, ResnetGenerator
from bgan_lightning.nn import StochasticBasisConv2d, last_latents
from tests.data import RandomPairs


class TinyGenerator(nn.Module):
    """Two convs, the second stochastic, so samples of one input differ."""

    input_nc = 3
    output_nc = 3

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.stochastic = StochasticBasisConv2d(8, 3, 3, padding=1, latent_dim=8, hidden_dim=8)

    def forward(self, x):
        return torch.tanh(self.stochastic(torch.relu(self.conv(x))))


class TinyDiscriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(6, 8, 4, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 3))

    def forward(self, x):
        return self.net(x)


class PairDataModule(pl.LightningDataModule):
    input_nc = 3
    output_nc = 3
    direction = "AtoB"
    crop_size = 16

    def train_dataloader(self):
        return DataLoader(RandomPairs(), batch_size=2)

    def val_dataloader(self):
        return DataLoader(RandomPairs(2), batch_size=2)

    def predict_dataloader(self):
        return DataLoader(RandomPairs(2), batch_size=2)


def make_module(**kwargs) -> ConditionalGAN:
    torch.manual_seed(0)
    return ConditionalGAN(TinyGenerator(), TinyDiscriminator(), **kwargs)


def make_trainer(tmp_path, **kwargs) -> pl.Trainer:
    options = dict(
        default_root_dir=tmp_path,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    options.update(kwargs)
    return pl.Trainer(**options)


def test_two_step_fit_updates_both_networks(tmp_path):
    module = make_module()
    g_before = [p.detach().clone() for p in module.generator.parameters()]
    d_before = [p.detach().clone() for p in module.discriminator.parameters()]

    # With two optimizers, max_steps counts optimizer steps: 4 means two batches.
    trainer = make_trainer(tmp_path, max_steps=4, limit_val_batches=0)
    trainer.fit(module, datamodule=PairDataModule())

    assert trainer.global_step == 4
    assert all(not torch.equal(a, b) for a, b in zip(g_before, module.generator.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d_before, module.discriminator.parameters()))
    for key in ("train/g_loss", "train/d_loss", "train/l1"):
        assert key in trainer.callback_metrics


def test_generator_runs_once_per_batch(tmp_path, monkeypatch):
    module = make_module()
    calls = []
    original = module.generator.forward
    monkeypatch.setattr(module.generator, "forward", lambda x: calls.append(1) or original(x))

    trainer = make_trainer(tmp_path, max_steps=2, limit_val_batches=0)
    trainer.fit(module, datamodule=PairDataModule())

    assert len(calls) == 1


def test_sample_is_reproducible_by_seed_and_diverse():
    module = make_module()
    condition = torch.zeros(2, 3, 16, 16)

    first = module.sample(condition, 3, seed=5)
    second = module.sample(condition, 3, seed=5)
    other = module.sample(condition, 3, seed=6)

    assert first.shape == (2, 3, 3, 16, 16)
    assert torch.equal(first, second)
    assert not torch.allclose(first, other)
    assert not torch.allclose(first[0, 0], first[0, 1])


def test_sample_with_per_input_seeds_ignores_batching():
    module = make_module()
    condition = torch.randn(3, 3, 16, 16).clamp(-1, 1)

    together = module.sample(condition, 2, seed=[10, 11, 12])
    alone = module.sample(condition[1:2], 2, seed=[11])

    assert torch.equal(together[1:2], alone)


def test_sample_leaves_global_rng_untouched():
    module = make_module()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    module.sample(torch.zeros(1, 3, 16, 16), 2, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_checkpoint_records_data_settings(tmp_path):
    module = make_module()
    trainer = make_trainer(tmp_path, max_steps=2, limit_val_batches=0)
    trainer.fit(module, datamodule=PairDataModule())
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)

    checkpoint = torch.load(path, weights_only=False)

    assert checkpoint["bgan_data"] == {"direction": "AtoB", "crop_size": 16, "input_nc": 3, "output_nc": 3}
    assert checkpoint["hyper_parameters"]["lambda_l1"] == 100.0


def test_checkpoint_on_other_data_warns(tmp_path, caplog):
    module = make_module()
    trainer = make_trainer(tmp_path, max_steps=2, limit_val_batches=0)
    trainer.fit(module, datamodule=PairDataModule())
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)

    class ReversedData(PairDataModule):
        direction = "BtoA"

    with caplog.at_level("WARNING", logger="bgan_lightning.modules.conditional_gan"):
        make_trainer(tmp_path).predict(make_module(), datamodule=ReversedData(), ckpt_path=path)

    assert "direction 'AtoB' in the checkpoint, 'BtoA' now" in caplog.text


def test_channel_mismatch_names_both_counts(tmp_path):
    class GrayData(PairDataModule):
        input_nc = 1

    trainer = make_trainer(tmp_path, max_steps=2, limit_val_batches=0)
    with pytest.raises(ValueError, match="The data has input_nc=1 but the generator was built with input_nc=3"):
        trainer.fit(make_module(), datamodule=GrayData())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gan_mode": "wgan"}, "Invalid gan_mode 'wgan'"),
        ({"lambda_perceptual": 10.0}, "lambda_perceptual=10.0 needs a perceptual_loss module"),
        ({"num_val_samples": 0}, "num_val_samples must be at least 1, got 0"),
        (
            {"diversity_distance": "lpips"},
            r"Invalid diversity_distance 'lpips'; expected one of \('pixels', 'discriminator'\)\.$",
        ),
        ({"discriminator_input": "mask"}, r"Invalid discriminator_input 'mask'; expected one of \('pair', 'hole'\)\.$"),
    ],
)
def test_invalid_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_module(**kwargs)


def test_validation_logs_l1_and_spread(tmp_path):
    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=1)
    trainer.fit(make_module(), datamodule=PairDataModule())
    assert "val/l1" in trainer.callback_metrics
    assert trainer.callback_metrics["val/sample_spread"] > 0


@pytest.mark.parametrize("mode", ["msgan", "dsgan"])
def test_diversity_regularizer_trains_with_shared_latents(tmp_path, mode):
    module = make_module(diversity_mode=mode, lambda_diversity=1.0)
    trainer = make_trainer(tmp_path, max_steps=2, limit_val_batches=0)
    trainer.fit(module, datamodule=PairDataModule())

    assert "train/diversity" in trainer.callback_metrics
    assert module.shared_latent_dim == 8
    # The last forward of a step used the second of the two shared latents, one row per sample.
    assert module.generator.stochastic.last_latent.shape == (2, 8)


def test_diversity_regularizer_needs_stochastic_generator():
    plain = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Tanh())
    with pytest.raises(ValueError, match="needs a generator with stochastic layers or a latent input"):
        ConditionalGAN(plain, TinyDiscriminator(), diversity_mode="dsgan")


def test_learning_rate_decays_linearly_after_start_epoch(tmp_path):
    module = make_module(decay_start_epoch=1, decay_epochs=2)
    trainer = make_trainer(tmp_path, max_epochs=3, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(module, datamodule=PairDataModule())

    opt_g, opt_d = module.optimizers()
    # Epoch 0 trains at the full rate, epochs 1 and 2 at 2/3 and 1/3 of it, and the rate is 0 afterwards.
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.0)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(0.0)


def test_test_step_logs_l1_and_spread(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.test(make_module(), dataloaders=DataLoader(RandomPairs(3), batch_size=2))
    assert trainer.callback_metrics["test/l1"] > 0
    assert trainer.callback_metrics["test/sample_spread"] > 0


def test_predicted_samples_do_not_depend_on_batch_size(tmp_path):
    module = make_module(num_val_samples=2)
    outputs = {}
    for batch_size in (1, 2):
        predictions = make_trainer(tmp_path).predict(module, DataLoader(RandomPairs(3), batch_size=batch_size))
        outputs[batch_size] = torch.cat([p["samples"] for p in predictions])
    torch.testing.assert_close(outputs[1], outputs[2])
    assert not torch.allclose(outputs[1][:, 0], outputs[1][:, 1])


class MaskedFaces(torch.utils.data.Dataset):
    """Inpainting items as InpaintingDataModule builds them: A is the masked image and the mask, B the image."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(index)
        image = torch.rand(3, 16, 16, generator=generator) * 2 - 1
        return {"A": masked_condition(image, square_mask(16, 8, 4, 4)), "B": image}


@pytest.mark.parametrize("diversity", [{}, {"diversity_mode": "dsgan", "diversity_distance": "discriminator"}])
def test_hole_discriminator_sees_masked_image(tmp_path, diversity):
    torch.manual_seed(0)
    generator = InpaintingGenerator(ngf=4, n_downsampling=2, n_blocks=1, stochastic="alternate", latent_dim=8)
    discriminator = MultiscaleDiscriminator(3, ndf=4, num_D=2, return_features=True)
    module = ConditionalGAN(
        generator,
        discriminator,
        gan_mode="lsgan",
        lambda_l1=0.0,
        lambda_feat=10.0,
        discriminator_input="hole",
        **diversity,
    )
    inputs = []
    discriminator.register_forward_pre_hook(lambda _, args: inputs.append(args[0].detach()))

    trainer = make_trainer(tmp_path, max_steps=2, limit_val_batches=0)
    trainer.fit(module, train_dataloaders=DataLoader(MaskedFaces(), batch_size=2))

    assert trainer.global_step == 2
    assert "train/feat" in trainer.callback_metrics
    assert ("train/diversity" in trainer.callback_metrics) == bool(diversity)
    outside = torch.ones(16, 16, dtype=torch.bool)
    outside[4:12, 4:12] = False
    for seen in inputs:
        assert seen.shape == (2, 3, 16, 16)
        assert seen[:, :, outside].abs().max() == 0
        assert seen[:, :, ~outside].abs().max() > 0


def test_sample_with_diversity_mode_shares_latents():
    torch.manual_seed(0)
    generator = ResnetGenerator(3, 3, ngf=4, n_blocks=2, stochastic="alternate", latent_dim=4, hidden_dim=4)
    module = ConditionalGAN(generator, TinyDiscriminator(), diversity_mode="dsgan").eval()
    module.sample(torch.randn(2, 3, 8, 8), 3, seed=[1, 2])
    latents = list(last_latents(generator).values())
    torch.testing.assert_close(latents[0], latents[1], rtol=0, atol=0)


def test_sample_seed_types():
    module = make_module().eval()
    condition = torch.randn(2, 3, 16, 16)
    expected = module.sample(condition, 2, seed=[4, 5])
    torch.testing.assert_close(module.sample(condition, 2, seed=np.array([4, 5])), expected, rtol=0, atol=0)
    torch.testing.assert_close(module.sample(condition, 2, seed=torch.tensor([4, 5])), expected, rtol=0, atol=0)
    torch.testing.assert_close(module.sample(condition, 2, seed=np.array(4)), module.sample(condition, 2, seed=4))
    message = r"^seed must be an integer, one integer per input \(in order\), or None, got 1\.0 of type float\.$"
    with pytest.raises(TypeError, match=message):
        module.sample(condition, 2, seed=1.0)
    with pytest.raises(TypeError, match=r"^seed must be an integer, one integer per input \(in order\), or None"):
        module.sample(condition, 2, seed={4, 5})
    with pytest.raises(ValueError, match=r"^A seed must lie in \[-2\*\*63, 2\*\*64\), "):
        module.sample(condition, 2, seed=2**64)


def test_sample_empty_batch_and_bad_count():
    module = make_module().eval()
    assert module.sample(torch.zeros(0, 3, 16, 16), 3, seed=[]).shape == (0, 3, 3, 16, 16)
    with pytest.raises(ValueError, match=r"^num_samples must be at least 1, got 0\.$"):
        module.sample(torch.zeros(1, 3, 16, 16), 0)
    with pytest.raises(TypeError, match=r"^num_samples must be a positive integer, got 2\.0 of type float\.$"):
        module.sample(torch.zeros(1, 3, 16, 16), 2.0)


def test_forward_with_diversity_mode_shares_latents():
    torch.manual_seed(0)
    generator = ResnetGenerator(3, 3, ngf=4, n_blocks=2, stochastic="alternate", latent_dim=4, hidden_dim=4)
    module = ConditionalGAN(generator, TinyDiscriminator(), diversity_mode="dsgan").eval()
    module(torch.randn(2, 3, 8, 8))
    latents = list(last_latents(generator).values())
    torch.testing.assert_close(latents[0], latents[1], rtol=0, atol=0)
