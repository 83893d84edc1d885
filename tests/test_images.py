from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bgan_lightning.images import from_uint8, make_grid, save_png, to_display, to_uint8


def test_uint8_round_trip_is_exact_on_levels():
    levels = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    assert torch.equal(to_uint8(from_uint8(levels)), levels)


def test_to_uint8_clips_out_of_range_values():
    assert to_uint8(torch.tensor([-3.0, 0.0, 3.0])).tolist() == [0, 128, 255]


@pytest.mark.parametrize(("channels", "expected"), [(1, 3), (2, 3), (3, 3), (4, 3), (13, 3)])
def test_to_display_gives_rgb(channels, expected):
    assert to_display(torch.zeros(channels, 5, 6)).shape == (expected, 5, 6)


def test_to_display_colours_label_maps_by_class():
    one_hot = torch.zeros(6, 2, 2)
    one_hot[2, 0, 0] = 1
    one_hot[5, 1, 1] = 1
    shown = to_display(one_hot)
    assert not torch.equal(shown[:, 0, 0], shown[:, 1, 1])
    assert torch.equal(shown[:, 0, 1], shown[:, 1, 0])


def test_grid_places_tiles_with_padding():
    white, black = torch.ones(3, 4, 4), -torch.ones(1, 4, 4)
    grid = make_grid([[white, black], [black]], padding=1)

    assert grid.shape == (3, 11, 11)
    assert grid[:, 1:5, 1:5].eq(255).all()
    assert grid[:, 1:5, 6:10].eq(0).all()
    assert grid[:, 6:10, 6:10].eq(255).all()


def test_grid_rejects_mixed_sizes():
    with pytest.raises(ValueError, match="All grid tiles must be 4x4, got \\(5, 5\\)"):
        make_grid([[torch.zeros(3, 4, 4), torch.zeros(3, 5, 5)]])


def test_save_png_writes_complete_file_and_no_temporaries(tmp_path):
    path = save_png(torch.zeros(3, 8, 8), tmp_path / "out" / "image.png")

    assert np.asarray(Image.open(path)).shape == (8, 8, 3)
    assert [p.name for p in path.parent.iterdir()] == ["image.png"]
