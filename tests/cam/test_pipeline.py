"""wsl.cam.CamBatch: network output → chosen classes → one upsampling → one normalisation."""

from __future__ import annotations

import numpy as np
import torch

from wsl.cam import CamBatch, upsample_class_maps
from wsl.metrics import normalize_cam, quantize_cam


def batch():
    return {
        "image_id": ["a", "b", "c"],
        "orig_size": torch.tensor([[20, 30], [9, 9], [16, 8]]),
        "labels": torch.tensor([[1.0, 0, 1], [0, 0, 0], [0, 1, 0]]),
        "box_labels": [torch.tensor([0, 2]), torch.zeros(0, dtype=torch.long), torch.tensor([1])],
        "difficult": [torch.tensor([False, False]), torch.zeros(0, dtype=torch.bool), torch.tensor([False])],
    }


def test_gt_policy_gives_one_cam_per_trial_equal_to_the_straightforward_path():
    gen = torch.Generator().manual_seed(1)
    scores, class_maps = torch.randn(3, 3, generator=gen), torch.randn(3, 3, 4, 5, generator=gen)
    cams = CamBatch.from_output(scores, class_maps, batch(), policy="gt")
    assert list(zip(cams.image_index.tolist(), cams.class_index.tolist(), strict=True)) == [
        (0, 0),
        (0, 2),
        (2, 1),
    ]
    assert cams.classes == [[0, 2], [], [1]] and len(cams) == 3
    assert list(cams.of_image(0)) == [0, 1] and list(cams.of_image(1)) == [] and list(cams.of_image(2)) == [2]
    sizes = {0: (20, 30), 2: (16, 8)}
    for p, (i, c) in enumerate(zip(cams.image_index.tolist(), cams.class_index.tolist(), strict=True)):
        raw = upsample_class_maps(class_maps[i, c][None], sizes[i])[0].numpy()
        np.testing.assert_array_equal(cams.cams[p].numpy(), normalize_cam(raw))
        np.testing.assert_array_equal(cams.quantized[p].numpy(), quantize_cam(raw))
        assert cams.raw_range[p].tolist() == [float(raw.min()), float(raw.max())]
    torch.testing.assert_close(cams.scores, scores)


def test_other_sizes_and_the_top1_policy():
    class_maps = torch.rand(3, 3, 4, 4)
    scores = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    cams = CamBatch.from_output(scores, class_maps, batch(), policy="top1", sizes=[(8, 8)] * 3)
    assert cams.class_index.tolist() == [1, 0, 2]
    assert all(tuple(c.shape) == (8, 8) for c in cams.cams)


def test_from_maps_takes_saved_maps_at_any_resolution():
    saved = {0: torch.rand(2, 20, 30), 2: torch.rand(1, 4, 2)}
    cams = CamBatch.from_maps(lambda i, classes: saved[i][: len(classes)], [(20, 30), (9, 9), (16, 8)],
                              [[0, 2], [], [1]])  # fmt: skip
    np.testing.assert_array_equal(cams.cams[0].numpy(), normalize_cam(saved[0][0].numpy()))
    assert tuple(cams.cams[2].shape) == (16, 8) and cams.scores is None


def test_an_empty_batch_has_no_cams():
    cams = CamBatch.from_maps(lambda i, c: torch.zeros(0), [(4, 4)], [[]])
    assert len(cams) == 0 and cams.quantized == [] and cams.raw_range.shape == (0, 2)
