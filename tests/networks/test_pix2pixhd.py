import pytest
import torch

from bgan_lightning.networks import GlobalGenerator, LocalEnhancer
from bgan_lightning.nn import stochastic_modules
from tests.networks.helpers import check_forward_backward, check_sample_contract, count_parameters

BASIS = {"num_bases": 3, "latent_dim": 8, "hidden_dim": 8}


def test_global_generator_matches_the_paper_count():
    # Table A.3 of Wang et al. (ICLR 2020): Pix2PixHD 182,546,755 parameters (36 input channels on Cityscapes).
    assert count_parameters(GlobalGenerator(input_nc=36)) == 182_546_755
    assert count_parameters(GlobalGenerator(input_nc=36, stochastic="alternate")) == 163_746_682


def test_global_generator_forward_backward_and_sample():
    torch.manual_seed(0)
    generator = GlobalGenerator(3, 3, ngf=4, n_downsampling=3, n_blocks=2, stochastic="alternate", **BASIS)
    assert len(stochastic_modules(generator)) == 2
    check_forward_backward(generator, torch.randn(2, 3, 16, 16))
    check_sample_contract(generator, torch.randn(2, 3, 16, 16))


@pytest.mark.parametrize("n_local_enhancers", [1, 2])
def test_local_enhancer_forward_backward_and_sample(n_local_enhancers):
    torch.manual_seed(0)
    generator = LocalEnhancer(
        3,
        3,
        ngf=4,
        n_downsample_global=2,
        n_blocks_global=2,
        n_local_enhancers=n_local_enhancers,
        n_blocks_local=1,
        stochastic="alternate",
        **BASIS,
    )
    names = [name for name, _ in stochastic_modules(generator)]
    assert names == ["global_generator.blocks.0.tail.1", "global_generator.blocks.1.tail.1"]
    check_forward_backward(generator, torch.randn(2, 3, 32, 32))
    samples = check_sample_contract(generator, torch.randn(2, 3, 32, 32))
    assert (samples[:, 0] - samples[:, 1]).abs().max() > 1e-4


def test_size_errors_count_global_and_local_downsamplings():
    generator = LocalEnhancer(3, 3, ngf=4, n_downsample_global=3, n_blocks_global=1, n_local_enhancers=2, **BASIS)
    message = (
        r"^LocalEnhancer needs height and width divisible by 32, got width 80; the nearest valid sizes are 64 and 96\.$"
    )
    with pytest.raises(ValueError, match=message):
        generator(torch.randn(1, 3, 64, 80))
    with pytest.raises(ValueError, match=r"^n_local_enhancers must be at least 1, got 0; use GlobalGenerator\.$"):
        LocalEnhancer(n_local_enhancers=0)
    global_generator = GlobalGenerator(3, 3, ngf=4, n_downsampling=4, n_blocks=1)
    with pytest.raises(ValueError, match=r"^GlobalGenerator needs height and width divisible by 16, got height 8; "):
        global_generator(torch.randn(1, 3, 8, 16))
