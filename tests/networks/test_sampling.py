"""sample() in chunks: the default chunk size, argument checks and latents replayed in draw order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bgan_lightning.networks import ResnetGenerator
from bgan_lightning.networks.sampling import ChunkedLatents, default_chunk_size, repeat_state
from bgan_lightning.nn import LatentSource, last_latents


def tiny_generator() -> ResnetGenerator:
    torch.manual_seed(0)
    return ResnetGenerator(3, 3, ngf=4, n_blocks=2, stochastic="alternate", latent_dim=4, hidden_dim=4).eval()


def test_default_chunk_size_per_device():
    assert default_chunk_size(2, 20, torch.device("cpu")) == 2
    assert default_chunk_size(2, 20, torch.device("cuda", 0)) == 20


def test_default_matches_one_batch():
    generator = tiny_generator()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        default = generator.sample(x, 3, seed=1)
        one_batch = generator.sample(x, 3, seed=1, chunk_size=6)
        larger = generator.sample(x, 3, seed=1, chunk_size=100)
    torch.testing.assert_close(default, one_batch, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(larger, one_batch, rtol=0, atol=0)


@pytest.mark.parametrize("chunk_size", [0, -3])
def test_invalid_chunk_size(chunk_size):
    message = rf"^chunk_size must be at least 1, got {chunk_size}\.$"
    with pytest.raises(ValueError, match=message):
        tiny_generator().sample(torch.randn(1, 3, 8, 8), 2, chunk_size=chunk_size)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"chunk_size": 2.0}, r"^chunk_size must be a positive integer, got 2\.0 of type float\.$"),
        ({"chunk_size": True}, r"^chunk_size must be a positive integer, got True of type bool\.$"),
        ({"num_samples": "3"}, r"^num_samples must be a positive integer, got '3' of type str\.$"),
        ({"seed": 1.5}, r"^A seed must be an integer or None, got 1\.5 of type float\.$"),
    ],
)
def test_sample_argument_types(options, message):
    arguments = {"num_samples": 2, **options}
    with pytest.raises(TypeError, match=message):
        tiny_generator().sample(torch.randn(1, 3, 8, 8), **arguments)


def test_numpy_and_tensor_seeds():
    generator = tiny_generator()
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        expected = generator.sample(x, 2, seed=3)
        torch.testing.assert_close(generator.sample(x, 2, seed=np.int64(3)), expected, rtol=0, atol=0)
        torch.testing.assert_close(generator.sample(x, 2, seed=torch.tensor(3)), expected, rtol=0, atol=0)


def test_shared_latents_are_equal_across_layers():
    generator = tiny_generator()
    with torch.no_grad():
        generator.sample(torch.randn(2, 3, 8, 8), 3, seed=0, shared=True)
    latents = list(last_latents(generator).values())
    assert len(latents) == 2
    torch.testing.assert_close(latents[0], latents[1], rtol=0, atol=0)


def test_empty_batch():
    generator = tiny_generator()
    with torch.no_grad():
        assert generator(torch.randn(0, 3, 8, 8)).shape == (0, 3, 8, 8)
        assert generator.sample(torch.randn(0, 3, 8, 8), 3).shape == (0, 3, 3, 8, 8)


def test_chunked_latents_replay_rows():
    source = LatentSource(seed=0)
    reference = LatentSource(seed=0)
    expected = [reference.draw(4, 3, torch.device("cpu"), torch.float32) for _ in range(2)]
    chunked = ChunkedLatents(source, rows=4)

    drawn = []
    for start in (0, 2):
        chunked.start_chunk(start)
        drawn.append([chunked.draw(2, 3, torch.device("cpu"), torch.float32) for _ in range(2)])

    for call in range(2):
        torch.testing.assert_close(torch.cat([drawn[0][call], drawn[1][call]]), expected[call], rtol=0, atol=0)


def test_chunked_latents_reject_reordering():
    chunked = ChunkedLatents(LatentSource(seed=0), rows=4)
    chunked.start_chunk(0)
    chunked.draw(2, 3, torch.device("cpu"), torch.float32)
    chunked.start_chunk(2)
    message = (
        r"^The stochastic layers drew latents in another order than in the first chunk; pass a chunk_size of at "
        r"least 4 to run all rows at once\.$"
    )
    with pytest.raises(RuntimeError, match=message):
        chunked.draw(2, 5, torch.device("cpu"), torch.float32)
    with pytest.raises(RuntimeError, match=message):
        chunked.draw(2, 3, torch.device("cpu"), torch.float32)
        chunked.draw(2, 3, torch.device("cpu"), torch.float32)


def test_repeat_state_once_copies_nothing():
    state = (torch.randn(2, 3), (torch.randn(2, 1),))
    assert repeat_state(state, 1) is state
    repeated = repeat_state(state, 2)
    assert repeated[0].shape == (4, 3)
    assert repeated[1][0].shape == (4, 1)


def test_deterministic_generator_repeats_without_latent_warning(caplog):
    generator = ResnetGenerator(3, 3, ngf=4, n_blocks=1).eval()
    with torch.no_grad():
        samples = generator.sample(torch.randn(1, 3, 8, 8), 3, seed=0)
    torch.testing.assert_close(samples[:, 0], samples[:, 2], rtol=0, atol=0)
    assert not [record for record in caplog.records if record.levelname == "WARNING"]
