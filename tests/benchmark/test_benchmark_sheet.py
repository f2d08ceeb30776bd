"""wsl.benchmark.sheet: the CAM of each image's best GT class (top-1 without one) comes from CamBatch."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from wsl.benchmark import sheet as ws
from wsl.cam import CamBatch
from wsl.cam.stream import CamRequest, cam_batches


class TinyNet(nn.Module):
    """A 1x1 conv head: class maps (B, 3, h, w), scores their spatial mean."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        class_maps = self.conv(images)
        return class_maps.mean((2, 3)), class_maps


def tiny_batch() -> dict:
    return {
        "image": torch.rand(3, 3, 4, 5, generator=torch.Generator().manual_seed(1)),
        "image_id": ["a", "b", "c"],
        "orig_size": torch.tensor([[8, 10], [6, 6], [4, 5]]),
        # image a: GT classes 0 and 2; b: none; c: only a difficult box of class 1 (not a GT trial).
        "box_labels": [torch.tensor([0, 2]), torch.zeros(0, dtype=torch.long), torch.tensor([1])],
        "difficult": [torch.tensor([False, False]), torch.zeros(0, dtype=torch.bool), torch.tensor([True])],
    }


def test_sheet_takes_the_best_gt_class_else_top1_through_cambatch(monkeypatch):
    batch = tiny_batch()
    with torch.inference_mode():
        scores, class_maps = TinyNet()(batch["image"])
    calls = []
    real = ws.select_classes

    def spy(policy, *args):
        calls.append(policy)
        return real(policy, *args)

    monkeypatch.setattr(ws, "select_classes", spy)
    picks = ws.sheet_cams(scores, class_maps, batch, single_label=False)
    assert calls == ["gt", "top1"]
    best_gt = 0 if scores[0, 0] >= scores[0, 2] else 2
    assert [p.class_index for p in picks] == [best_gt, int(scores[1].argmax()), int(scores[2].argmax())]
    every = CamBatch.from_output(scores, class_maps, batch, "all")  # the one pipeline, every class
    for i, pick in enumerate(picks):
        assert pick.probability == float(scores[i, pick.class_index].sigmoid())
        np.testing.assert_array_equal(pick.cam, every.cams[every.of_image(i)[pick.class_index]].numpy())
        assert pick.cam.shape == tuple(batch["orig_size"][i].tolist()) and pick.cam.dtype == np.float64


def test_sheet_needs_no_top1_pass_when_every_image_has_a_gt_class(monkeypatch):
    batch = tiny_batch()
    batch["difficult"][2] = torch.tensor([False])
    del batch["box_labels"][1], batch["difficult"][1], batch["image_id"][1]
    batch["image"], batch["orig_size"] = batch["image"][[0, 2]], batch["orig_size"][[0, 2]]
    with torch.inference_mode():
        scores, class_maps = TinyNet()(batch["image"])
    policies = []
    real = ws.select_classes
    monkeypatch.setattr(ws, "select_classes", lambda *a: policies.append(a[0]) or real(*a))
    picks = ws.sheet_cams(scores, class_maps, batch, single_label=True)
    assert policies == ["gt"] and picks[1].class_index == 1
    assert picks[1].probability == float(scores[1].softmax(0)[1])


def test_the_sheet_as_a_sink_of_the_cam_stream_picks_what_sheet_cams_picks():
    batch, net = tiny_batch(), TinyNet()
    with torch.inference_mode():
        scores, class_maps = net(batch["image"])
    direct = ws.sheet_cams(scores, class_maps, batch, single_label=False)
    [(_, cams)] = cam_batches(net, [batch], CamRequest(choice=ws.GT_ELSE_TOP1))
    streamed = ws.sheet_picks(cams, single_label=False)
    assert [p.class_index for p in streamed] == [p.class_index for p in direct]
    for a, b in zip(streamed, direct, strict=True):
        assert a.probability == b.probability
        np.testing.assert_array_equal(a.cam, b.cam)
