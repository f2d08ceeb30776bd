"""The WSOL recipe pieces: the ``wsol`` training transform and ``num_val_sample_per_class``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from wsl.data import WSLDataModule, WSOLDataset
from wsl.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    WSOLTrainTransform,
    build_transform,
)
from wsl.data.wsol import VAL_SAMPLES, parse_wsol_options, parse_wsol_root


def _normalized(x: torch.Tensor) -> torch.Tensor:
    """float64 reference of the ImageNet normalisation of 0..255 values."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(3, 1, 1)
    return (x.double() / 255.0 - mean) / std


def test_wsol_preset_is_resize_256_then_random_crop_224():
    t = build_transform(224, train=True, augment="wsol")
    assert isinstance(t, WSOLTrainTransform) and (t.resize_size, t.image_size) == (256, 224)
    assert type(build_transform(224, train=False, augment="wsol")) is EvalTransform  # test: Resize(224)
    assert WSOLTrainTransform(64).resize_size == 73  # round(64 * 256 / 224)
    assert tuple(t(torch.randint(0, 256, (3, 300, 200), dtype=torch.uint8)).shape) == (3, 224, 224)


@pytest.mark.parametrize("hflip", [False, True])
def test_crop_window_and_flip_are_exact(hflip):
    t = WSOLTrainTransform(14)  # R = 16
    image = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)  # already R x R: no resampling
    out = t.apply(image, {"top": 1, "left": 2, "hflip": hflip})
    expected = _normalized(image)[:, 1:15, 2:16]
    if hflip:
        expected = expected.flip(-1)
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=1e-5)


def test_resize_ignores_the_aspect_ratio():
    # A 12 x 48 image becomes 16 x 16 (each axis scaled on its own), then the crop is cut from that.
    t = WSOLTrainTransform(14)
    image = torch.randint(0, 256, (3, 12, 48), dtype=torch.uint8)
    resized = F.interpolate(image[None].double(), size=(16, 16), mode="bilinear", antialias=True)[0]
    out = t.apply(image, {"top": 2, "left": 0, "hflip": False})
    torch.testing.assert_close(out.double(), _normalized(resized)[:, 2:16, 0:14], rtol=0, atol=1e-4)


def test_crop_offsets_cover_the_whole_range():
    torch.manual_seed(0)
    t = WSOLTrainTransform(14, flip_p=0.5)  # offsets 0, 1, 2
    draws = [t.sample() for _ in range(200)]
    assert {d["top"] for d in draws} == {0, 1, 2} and {d["left"] for d in draws} == {0, 1, 2}
    assert {d["hflip"] for d in draws} == {False, True}


def _val_fixture(root: Path) -> None:
    """CUB-like metadata: val holds classes 0 and 1 interleaved (3 of class 0, 2 of class 1)."""
    val = [("c0/a0.jpg", 0), ("c1/b0.jpg", 1), ("c0/a1.jpg", 0), ("c0/a2.jpg", 0), ("c1/b1.jpg", 1)]
    for image_id, _ in val:
        (root / image_id).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(root / image_id)
    for split, rows in {"val": val, "test": val, "train": val}.items():
        folder = root / "metadata" / "CUB" / split
        folder.mkdir(parents=True)
        (folder / "image_ids.txt").write_text("".join(f"{i}\n" for i, _ in rows))
        (folder / "class_labels.txt").write_text("".join(f"{i},{c}\n" for i, c in rows))
        (folder / "image_sizes.txt").write_text("".join(f"{i},40,30\n" for i, _ in rows))
        (folder / "localization.txt").write_text("".join(f"{i},1,2,20,25\n" for i, _ in rows))


def test_val_sample_first_keeps_the_first_k_of_each_class_in_file_order(tmp_path):
    # The documented default changed to upstream's random draw (issue 28); first-K is the explicit option.
    _val_fixture(tmp_path)
    spec = f"CUB:{tmp_path}:num_val_sample_per_class=2:val_sample=first"
    val = WSOLDataset(spec, "val", with_annotations=True, with_images=False)
    assert [r.image_id for r in val.records] == ["c0/a0.jpg", "c1/b0.jpg", "c0/a1.jpg", "c1/b1.jpg"]
    assert len(WSOLDataset(spec, "test", with_images=False)) == 5  # only val is subsampled
    one = WSOLDataset(
        f"CUB:{tmp_path}", "val", with_images=False, num_val_sample_per_class=1, val_sample="first"
    )
    assert [r.image_id for r in one.records] == ["c0/a0.jpg", "c1/b0.jpg"]
    dm = WSLDataModule(f"wsol:{spec}", num_workers=0, single_label=True)
    assert dm.class_names == ["c0", "c1"] and len(dm.dataset("val", with_images=False)) == 4


def _many_per_class(root: Path, counts: dict[int, int]) -> list[tuple[str, int]]:
    """train/val metadata, ``counts[c]`` 4x4 images of class c, the classes interleaved in the file."""
    rows = []
    for i in range(max(counts.values())):
        rows += [(f"c{c}/img{i:02d}.jpg", c) for c in sorted(counts) if i < counts[c]]
    for image_id, _ in rows:
        (root / image_id).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / image_id)
    for split in ("train", "val"):
        folder = root / "metadata" / "CUB" / split
        folder.mkdir(parents=True)
        (folder / "image_ids.txt").write_text("".join(f"{i}\n" for i, _ in rows))
        (folder / "class_labels.txt").write_text("".join(f"{i},{c}\n" for i, c in rows))
        (folder / "image_sizes.txt").write_text("".join(f"{i},4,4\n" for i, _ in rows))
        (folder / "localization.txt").write_text("".join(f"{i},0,0,2,2\n" for i, _ in rows))
    return rows


def _val_ids(root: Path, k: int, **kwargs) -> list[str]:
    spec = f"CUB:{root}:num_val_sample_per_class={k}"
    return [r.image_id for r in WSOLDataset(spec, "val", with_images=False, **kwargs).records]


def test_random_val_subset_is_k_per_class_without_replacement_and_follows_the_seed(tmp_path):
    counts = {0: 7, 1: 5, 2: 9}
    rows = _many_per_class(tmp_path, counts)
    label = dict(rows)
    draws = {seed: _val_ids(tmp_path, 3, seed=seed) for seed in range(6)}
    for ids in draws.values():
        assert len(ids) == len(set(ids)) == 9  # no id twice
        assert sorted(label[i] for i in ids) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
        order = [i for i, _ in rows]
        assert [order.index(i) for i in ids] == sorted(order.index(i) for i in ids)  # file order kept
    assert _val_ids(tmp_path, 3, seed=4) == draws[4]  # deterministic for a seed
    assert len({tuple(ids) for ids in draws.values()}) > 1  # and the seed matters
    assert draws[0] != _val_ids(tmp_path, 3, val_sample="first")
    # The written rule: one default_rng(seed), classes in ascending label order, choice(positions, k).
    rng = np.random.default_rng(5)
    positions = {c: [n for n, (_, lab) in enumerate(rows) if lab == c] for c in sorted(counts)}
    chosen = sorted(int(n) for c in sorted(counts) for n in rng.choice(positions[c], 3, replace=False))
    assert draws[5] == [rows[n][0] for n in chosen]
    assert _val_ids(tmp_path, 0, seed=3) == [i for i, _ in rows]  # 0: all


def test_random_val_subset_is_drawn_under_the_data_modules_seed(tmp_path):
    _many_per_class(tmp_path, {0: 6, 1: 6})

    def subset(seed: int) -> list[str]:
        dm = WSLDataModule(
            f"wsol:CUB:{tmp_path}:num_val_sample_per_class=2", num_workers=0, single_label=True, seed=seed
        )
        return [r.image_id for r in dm.dataset("val", with_images=False).records]

    assert subset(7) == _val_ids(tmp_path, 2, seed=7) and subset(0) == _val_ids(tmp_path, 2, seed=0)


@pytest.mark.parametrize("rule", ["random", "first"])
def test_num_val_sample_per_class_larger_than_a_class_names_it(tmp_path, rule):
    _val_fixture(tmp_path)
    with pytest.raises(
        ValueError,
        match=r"image_ids\.txt: num_val_sample_per_class: class 1 \(c1\) has 2 image\(s\) in this split, "
        r"fewer than 3 .*pass num_val_sample_per_class <= 2, or 0 for all images",
    ):
        WSOLDataset(f"CUB:{tmp_path}:num_val_sample_per_class=3:val_sample={rule}", "val", with_images=False)


def test_bad_val_sample_and_seed_are_named(tmp_path):
    _val_fixture(tmp_path)
    with pytest.raises(
        ValueError, match=r"val_sample='any' in 'wsol:CUB:.*' is not one of \('random', 'first'\)"
    ):
        parse_wsol_options(f"CUB:{tmp_path}:val_sample=any")
    with pytest.raises(ValueError, match=r"val_sample: got 'last'; expected one of \['first', 'random'\]"):
        WSOLDataset(f"CUB:{tmp_path}", "val", with_images=False, val_sample="last")
    # review item D2: the rules are a Registry (VAL_SAMPLES): a near miss gets the closest name
    with pytest.raises(ValueError, match=r"val_sample: got 'frist' \(did you mean 'first'\?\)"):
        WSOLDataset(f"CUB:{tmp_path}", "val", with_images=False, val_sample="frist")
    with pytest.raises(ValueError, match=r"is not one of \('random', 'first'\) \(did you mean 'random'\?\)"):
        parse_wsol_options(f"CUB:{tmp_path}:val_sample=randm")
    assert VAL_SAMPLES.names() == ["random", "first"]  # the first is the default
    with pytest.raises(TypeError, match=r"seed: got '1'; expected an int"):
        WSOLDataset(f"CUB:{tmp_path}", "val", with_images=False, seed="1")  # type: ignore[arg-type]


def test_spec_options_parse_in_either_order_and_bad_values_are_named(tmp_path):
    meta = tmp_path / "meta"
    text = f"CUB:{tmp_path}:metadata={meta}:num_val_sample_per_class=5"
    assert parse_wsol_options(text) == (f"CUB:{tmp_path}:metadata={meta}", {"num_val_sample_per_class": 5})
    assert parse_wsol_root(text) == ("CUB", tmp_path, meta)
    swapped = f"CUB:{tmp_path}:num_val_sample_per_class=5:metadata={meta}"
    assert parse_wsol_root(swapped) == ("CUB", tmp_path, meta)
    assert parse_wsol_options(f"CUB:{tmp_path}:val_sample=first:num_val_sample_per_class=2") == (
        f"CUB:{tmp_path}",
        {"val_sample": "first", "num_val_sample_per_class": 2},
    )
    with pytest.raises(ValueError, match=r"num_val_sample_per_class='x' .* is not an int >= 0"):
        parse_wsol_root(f"CUB:{tmp_path}:num_val_sample_per_class=x")
    with pytest.raises(ValueError, match="is given twice"):
        parse_wsol_options("CUB:r:num_val_sample_per_class=1:num_val_sample_per_class=2")
