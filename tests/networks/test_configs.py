"""Every network builds from a LightningCLI-style ``class_path`` + ``init_args`` config."""

import pytest
import torch
import yaml
from jsonargparse import ArgumentParser

CONFIGS = {
    "ResnetGenerator": {"input_nc": 3, "output_nc": 3, "ngf": 4, "n_blocks": 2, "stochastic": "alternate"},
    "UnetGenerator": {"num_downs": 5, "ngf": 4, "stochastic_levels": [0, 1]},
    "GlobalGenerator": {"ngf": 4, "n_downsampling": 2, "n_blocks": 1, "stochastic": "alternate"},
    "LocalEnhancer": {"ngf": 4, "n_downsample_global": 2, "n_blocks_global": 1, "n_local_enhancers": 2},
    "InpaintingGenerator": {"ngf": 4, "stochastic": "all"},
    "NLayerDiscriminator": {"input_nc": 6, "ndf": 4, "norm": "instance", "spectral_norm": True},
    "MultiscaleDiscriminator": {"input_nc": 6, "num_D": 2, "ndf": 4, "return_features": True},
    "LatentInputGenerator": {
        "generator": {
            "class_path": "bgan_lightning.networks.UnetGenerator",
            "init_args": {"input_nc": 11, "num_downs": 5, "ngf": 4},
        },
        "latent_dim": 8,
    },
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_network_builds_from_yaml(name):
    parser = ArgumentParser()
    parser.add_argument("--network", type=torch.nn.Module)
    config = {"network": {"class_path": f"bgan_lightning.networks.{name}", "init_args": CONFIGS[name]}}
    parsed = parser.parse_string(yaml.safe_dump(config))
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes  # renamed in jsonargparse 4.49
    network = instantiate(parsed).network
    assert type(network).__name__ == name
    channels = 3
    if "Discriminator" in name:
        channels = 6
    elif name == "InpaintingGenerator":
        channels = 4
    x = torch.randn(1, channels, 32, 32)
    assert network(x) is not None


def test_autoencoder_factory_builds_from_yaml():
    parser = ArgumentParser()
    parser.add_argument("--network", type=torch.nn.Module)
    init_args = {"nc": 3, "ngf": 4, "n_blocks": 1}
    config = {"network": {"class_path": "bgan_lightning.networks.stochastic_autoencoder", "init_args": init_args}}
    parsed = parser.parse_string(yaml.safe_dump(config))
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    network = instantiate(parsed).network
    assert type(network).__name__ == "ResnetGenerator"
    assert network.stochastic == "alternate"
    assert network(torch.randn(1, 3, 8, 8)).shape == (1, 3, 8, 8)
