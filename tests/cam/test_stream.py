"""The one CAM stream (wsl.cam.stream): class choice before or after the forward pass, limit, frames."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wsl.cam.stream import CamRequest, CamSource, ClassChoice, cam_batches


class FixedNet(nn.Module):
    """scores[n, c] = c + n; class_maps[n, c] = (c + 1) · [[0, 1], [2, 3]] + n (hand-checkable)."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.calls = 0

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        n = images.shape[0]
        c = torch.arange(self.num_classes, dtype=torch.float64)
        offset = torch.arange(n, dtype=torch.float64)
        scores = c[None, :] + offset[:, None]
        base = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64)
        maps = (c + 1)[None, :, None, None] * base + offset[:, None, None, None]
        return scores.float(), maps.float()


def _batch(n: int, start: int = 0, labels: list[list[int]] | None = None) -> dict:
    labels = labels or [[1] for _ in range(n)]
    one_hot = torch.zeros(n, 3)
    for i, present in enumerate(labels):
        one_hot[i, present] = 1
    return {
        "image": torch.zeros(n, 3, 2, 2),
        "image_id": [str(start + i) for i in range(n)],
        "orig_size": torch.tensor([[2, 2]] * n),
        "labels": one_hot,
    }


class SpySource(CamSource):
    """A post-hoc source that records the classes it was asked for and returns the native maps."""

    asked: list

    def check(self, net):  # FixedNet has no layers; the layer check is CamSource's own test
        pass

    def __call__(self, net, images, classes=None):
        self.asked.append(None if classes is None else [list(c) for c in classes])
        return net(images)


def _spy() -> SpySource:
    source = SpySource("gradcam")
    object.__setattr__(source, "asked", [])
    return source


def test_the_cams_are_the_chosen_class_maps_min_max_normalised_at_the_image_size():
    net = FixedNet()
    [(batch, cams)] = cam_batches(net, [_batch(2, labels=[[0, 2], [1]])], CamRequest(choice="present"))
    assert cams.classes == [[0, 2], [1]] and batch["image_id"] == ["0", "1"]
    expected = torch.tensor([[0.0, 1 / 3], [2 / 3, 1.0]], dtype=torch.float64)  # (m - min) / (max - min)
    for cam in cams.cams:
        torch.testing.assert_close(cam, expected, rtol=0, atol=1e-12)
    # raw range [lo, hi] of image 1, class 1: 2 * [0..3] + 1
    assert cams.raw_range[2].tolist() == [1.0, 7.0]
    assert cams.scores is not None and cams.scores[1].tolist() == [1.0, 2.0, 3.0]


def test_a_choice_without_scores_is_made_before_the_forward_pass_and_asked_of_the_source():
    net, source = FixedNet(), _spy()
    request = CamRequest(source, "present")
    [(_, cams)] = cam_batches(net, [_batch(2, labels=[[0], [1, 2]])], request)
    assert source.asked == [[[0], [1, 2]]] and net.calls == 1
    assert cams.classes == [[0], [1, 2]]


def test_a_choice_that_needs_scores_takes_them_from_a_native_pass_then_asks_the_source():
    net, source = FixedNet(), _spy()
    [(_, cams)] = cam_batches(net, [_batch(2)], CamRequest(source, "top1"))
    # top-1 of scores c + n is the last class for every image
    assert source.asked == [[[2], [2]]] and net.calls == 2
    assert cams.class_index.tolist() == [2, 2]


def test_a_native_source_computes_once_and_a_callable_choice_gets_cpu_float_scores():
    seen = []

    def choose(batch, scores):
        seen.append(scores.dtype)
        return [[0] for _ in batch["image_id"]]

    net = FixedNet()
    [(_, cams)] = cam_batches(net, [_batch(1)], CamRequest(choice=ClassChoice(choose)))
    assert seen == [torch.float32] and net.calls == 1 and cams.classes == [[0]]


def test_limit_cuts_the_stream_after_that_many_images():
    batches = [_batch(2, 0), _batch(2, 2), _batch(2, 4)]
    out = list(cam_batches(FixedNet(), batches, CamRequest(choice="all", limit=3)))
    assert [b["image_id"] for b, _ in out] == [["0", "1"], ["2"]]
    assert [len(c.classes) for _, c in out] == [2, 1]


def test_sizes_and_the_wsolevaluation_frame():
    request = CamRequest(choice="all", frame="wsolevaluation")
    [(_, cams)] = cam_batches(FixedNet(), [_batch(1)], request)
    assert cams.frame == "wsolevaluation" and tuple(cams.cams[0].shape) == (224, 224)
    [(_, cams)] = cam_batches(FixedNet(), [_batch(1)], CamRequest(choice="all"), sizes=lambda b: [(4, 6)])
    assert tuple(cams.cams[0].shape) == (4, 6)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: CamRequest(limit=0), "limit must be a positive int or None; got 0"),
        (lambda: CamRequest(choice="nope"), "nope"),
        (lambda: CamRequest(frame="nope"), "nope"),
        (lambda: CamSource("nope"), "nope"),
        (lambda: CamSource("native", "backbone"), "only used by a post-hoc cam_method"),
    ],
)
def test_bad_requests_fail_before_any_image_is_read(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_batch_without_the_keys_is_an_error_that_names_them():
    with pytest.raises(ValueError, match="batches must be dicts with 'image', 'image_id' and 'orig_size'"):
        list(cam_batches(FixedNet(), [{"image": torch.zeros(1, 3, 2, 2)}]))


class FormatNet(nn.Module):
    """A 3×3 conv, then FixedNet's outputs; records the memory format of every input it is fed."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fixed = FixedNet()
        self.nhwc: list[bool] = []

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nhwc = images.is_contiguous(memory_format=torch.channels_last)
        self.nhwc.append(nhwc and not images.is_contiguous())
        self.conv(images)
        return self.fixed(images)


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_stream_feeds_a_network_in_its_own_memory_format(channels_last):
    net = FormatNet()
    if channels_last:  # as WSLModule(channels_last=True) converts its net
        net.to(memory_format=torch.channels_last)
    batch = _batch(2)
    batch["image"] = torch.zeros(2, 3, 4, 4)
    [(_, cams)] = cam_batches(net, [batch], CamRequest(choice="top1"))
    assert net.nhwc == [channels_last]
    [(_, plain)] = cam_batches(FixedNet(), [batch], CamRequest(choice="top1"))
    assert all(torch.equal(a, b) for a, b in zip(cams.quantized, plain.quantized, strict=True))
