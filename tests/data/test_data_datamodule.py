"""WSLDataModule, collate_wsl and the transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsl.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    TrainTransform,
    WSLDataModule,
    collate_wsl,
    denormalize,
    denormalize_float,
    parse_data_spec,
)


def test_parse_data_spec():
    assert parse_data_spec("synthetic") == ("synthetic", "easy", "voc")
    assert parse_data_spec("synthetic:hard") == ("synthetic", "hard", "voc")
    assert parse_data_spec("synthetic:easy:coco") == ("synthetic", "easy", "coco")
    assert parse_data_spec("voc:/data/VOC2007") == ("voc", "/data/VOC2007", "voc")
    assert parse_data_spec("coco:C:/x") == ("coco", "C:/x", "coco")
    with pytest.raises(ValueError, match=r"got 'vco:/x' \(did you mean 'voc'\?\); expected"):
        parse_data_spec("vco:/x")
    with pytest.raises(
        ValueError,
        match=r"expected one of \['synthetic', 'coco', 'csv', 'cub', 'ilsvrc', 'imagefolder', "
        r"'voc', 'wsol'\]",
    ):
        parse_data_spec("vco:/x")
    with pytest.raises(ValueError, match=r"got 'yolo'; expected one of \['coco', 'voc', 'wsol'\]"):
        parse_data_spec("synthetic:easy:yolo")
    with pytest.raises(ValueError, match=r"got 'cocoo' \(did you mean 'coco'\?\)"):
        WSLDataModule("synthetic:easy:cocoo")
    with pytest.raises(ValueError, match="lacks the dataset root"):
        parse_data_spec("coco")
    with pytest.raises(ValueError, match="unknown synthetic preset 'medium'"):
        parse_data_spec("synthetic:medium")


@pytest.mark.parametrize(("spec", "n"), [("synthetic", 6), ("synthetic:easy", 6), ("synthetic:hard", 8)])
def test_synthetic_class_names_without_generating(tmp_path, spec, n):
    dm = WSLDataModule(spec, cache_dir=str(tmp_path / "cache"))
    assert dm.num_classes == n and dm.class_names[:3] == ["circle", "square", "triangle"]
    assert not (tmp_path / "cache").exists()


def test_class_names_for_voc_and_coco_roots(synthetic_voc_root, synthetic_coco_root):
    names = ["circle", "square", "triangle", "cross", "ring", "star"]
    assert WSLDataModule(f"voc:{synthetic_voc_root}").class_names == names
    assert WSLDataModule(f"coco:{synthetic_coco_root}").class_names == names
    assert WSLDataModule(f"voc:{synthetic_voc_root}", class_names=["a", "b"]).num_classes == 2


def test_train_batches_have_image_labels_only(tiny_datamodule):
    dm = tiny_datamodule
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert not loader.drop_last
    batches = list(loader)
    assert [len(b["image_id"]) for b in batches] == [4, 4, 4]
    b = batches[0]
    assert set(b) == {"image", "labels", "image_id", "orig_size"}
    assert b["image"].shape == (4, 3, 64, 64) and b["image"].dtype == torch.float32
    assert b["labels"].shape == (4, 6) and b["labels"].dtype == torch.float32
    assert b["orig_size"].dtype == torch.int64 and b["orig_size"].tolist() == [[64, 64]] * 4
    assert (b["labels"].sum(1) >= 1).all()


def test_val_and_test_batches_carry_annotations(tiny_datamodule):
    dm = tiny_datamodule
    dm.setup("validate")
    for loader in (dm.val_dataloader(), dm.test_dataloader(), dm.predict_dataloader()):
        b = next(iter(loader))
        assert b["image"].shape == (4, 3, 64, 64)
        for key in ("boxes", "box_labels", "difficult", "masks", "ignore", "image_id"):
            assert isinstance(b[key], list) and len(b[key]) == 4
        assert b["boxes"][0].dtype == torch.int64 and b["boxes"][0].shape[1] == 4
        assert b["masks"][0].shape == (len(b["boxes"][0]), 64, 64)


def test_named_split_dataloader_with_limit(tiny_datamodule):
    loader = tiny_datamodule.dataloader("train", with_annotations=True, limit=5, batch_size=2)
    batches = list(loader)
    assert [len(b["image_id"]) for b in batches] == [2, 2, 1]
    assert batches[0]["image_id"] == ["train_00000", "train_00001"]
    assert "boxes" in batches[0]
    with pytest.raises(ValueError, match="limit: got 0"):
        tiny_datamodule.dataloader("train", limit=0)


def test_synthetic_spec_generates_into_cache_dir(tmp_path, monkeypatch):
    import wsl.data.datamodule as dmod

    calls = []

    def fake_ensure(cache_dir, preset, seed, fmt):
        calls.append((cache_dir, preset, seed, fmt))
        return tmp_path / "root"

    monkeypatch.setattr(dmod, "ensure_synthetic", fake_ensure)
    dm = WSLDataModule("synthetic:hard:coco", cache_dir=str(tmp_path), seed=3)
    dm.prepare_data()
    assert calls == [(str(tmp_path), "hard", 3, "coco")] and dm.root == tmp_path / "root"


def test_coco_datamodule_single_label(synthetic_coco_root):
    dm = WSLDataModule(
        f"coco:{synthetic_coco_root}", image_size=32, batch_size=3, num_workers=0, single_label=True
    )
    b = next(iter(dm.val_dataloader()))
    assert b["image"].shape == (3, 3, 32, 32)
    assert b["labels"].sum(1).tolist() == [1.0, 1.0, 1.0]
    for labels, box_labels in zip(b["labels"], b["box_labels"], strict=True):
        assert set(box_labels.tolist()) == {int(labels.argmax())}


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size: got 0"):
        WSLDataModule(batch_size=0)
    with pytest.raises(ValueError, match="num_workers: got -1"):
        WSLDataModule(num_workers=-1)


def test_worker_loader_is_persistent(tiny_datamodule):
    # Without the in-memory cache (which the CPU default uses, with no workers), the per-image path.
    dm = WSLDataModule(tiny_datamodule.data, image_size=64, batch_size=4, num_workers=1, cache_images=False)
    loader = dm.train_dataloader()
    assert loader.persistent_workers and loader.num_workers == 1
    assert next(iter(loader))["image"].shape == (4, 3, 64, 64)


def test_collate_wsl():
    items = [
        {"image": torch.zeros(3, 8, 8), "labels": torch.tensor([1.0, 0.0]), "image_id": str(i),
         "orig_size": (10 + i, 20), "boxes": torch.zeros(i, 4, dtype=torch.int64), "masks": None}
        for i in range(3)
    ]  # fmt: skip
    b = collate_wsl(items)
    assert b["image"].shape == (3, 3, 8, 8) and b["labels"].shape == (3, 2)
    assert b["orig_size"].tolist() == [[10, 20], [11, 20], [12, 20]]
    assert [x.shape[0] for x in b["boxes"]] == [0, 1, 2] and b["masks"] == [None] * 3
    with pytest.raises(ValueError, match="empty"):
        collate_wsl([])


def test_eval_transform_resizes_and_normalises():
    image = torch.full((3, 20, 30), 255, dtype=torch.uint8)
    out = EvalTransform(16)(image)
    assert out.shape == (3, 16, 16)
    expected = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(out[:, 0, 0], expected, atol=1e-5)
    assert torch.allclose(denormalize_float(out), torch.ones(3, 16, 16), atol=1e-5)
    with pytest.raises(ValueError, match="image_size: got 0"):
        EvalTransform(0)


def test_train_transform_flips_and_stays_mild():
    image = torch.zeros(3, 16, 16, dtype=torch.uint8)
    image[:, :, :8] = 200
    t = TrainTransform(16, flip_p=1.0, jitter=0.0)
    out = denormalize_float(t(image))
    assert out[:, :, 8:].mean() > 0.7 and out[:, :, :8].mean() < 0.01
    torch.manual_seed(0)
    jit = TrainTransform(16, flip_p=0.0, jitter=0.2)
    base = denormalize_float(EvalTransform(16)(image))
    for _ in range(5):
        assert (denormalize_float(jit(image)) - base).abs().max() < 0.5


def test_denormalize_gives_uint8_hwc_pixels():
    torch.manual_seed(0)
    batch = torch.randn(2, 3, 5, 7) * 2  # includes values that clamp at both ends
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    # the formula of wsl/viz/callback.py and wsl/jobs/export.py, which switch to denormalize
    expected = (batch * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = denormalize(batch)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == (2, 5, 7, 3)
    assert np.array_equal(out, expected)
    single = denormalize(batch[1])
    assert single.shape == (5, 7, 3) and np.array_equal(single, expected[1])
    assert np.array_equal(denormalize(batch.double()), expected)
    image = torch.full((3, 4, 4), 255, dtype=torch.uint8)
    assert (denormalize(EvalTransform(4)(image)) == 255).all()
    assert np.array_equal(
        denormalize(batch), (denormalize_float(batch) * 255).round().byte().permute(0, 2, 3, 1)
    )
    for bad in (torch.zeros(4, 4), torch.zeros(1, 4, 4), torch.zeros(2, 4, 4, 3)):
        with pytest.raises(ValueError, match=r"images: got \("):
            denormalize(bad)
