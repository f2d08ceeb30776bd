"""wsolevaluation's metadata format: hand-written CUB, ILSVRC and OpenImages fixtures (wsl.data.wsol)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wsl.data import DatasetError, WSLDataModule, WSOLDataset, collate_wsl, parse_data_spec
from wsl.data.wsol import default_class_names, parse_wsol_root


def _image(path: Path, w: int, h: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 120, np.uint8)).save(path)


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


def _write(folder: Path, **files: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.txt").write_text(text)


CUB_A = "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg"
CUB_B = "002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg"


@pytest.fixture
def cub(tmp_path: Path) -> Path:
    """CUB layout: images in class folders, metadata/CUB/{train,val,test}; val's image_sizes.txt empty."""
    root = tmp_path / "CUB"
    _image(root / CUB_A, 40, 30)
    _image(root / CUB_B, 50, 20)
    meta = root / "metadata" / "CUB"
    ids = f"{CUB_A}\n{CUB_B}\n"
    labels = f"{CUB_A},0\n{CUB_B},1\n"
    _write(meta / "train", image_ids=ids, class_labels=labels, image_sizes=f"{CUB_A},40,30\n{CUB_B},50,20\n")
    loc = f"{CUB_A},2.5,3.0,20.9,25.0\n{CUB_A},30,1,40.0,30.0\n{CUB_B},0,0,10,19\n"
    _write(meta / "test", image_ids=ids, class_labels=labels, image_sizes=f"{CUB_A},40,30\n{CUB_B},50,20\n",
           localization=loc)  # fmt: skip
    _write(meta / "val", image_ids=ids, class_labels=labels, image_sizes="", localization=loc)
    return root


def test_cub_ids_with_slashes_class_folders_and_several_boxes(cub: Path):
    with pytest.warns(UserWarning, match=r"clipped 1 box\(es\) of 1 image.*localization\.txt:2: "):
        ds = WSOLDataset(f"CUB:{cub}", "test", with_annotations=True)
    assert ds.class_names == ["001.Black_footed_Albatross", "002.Laysan_Albatross"]
    assert [r.image_id for r in ds.records] == [CUB_A, CUB_B]
    item = ds[0]
    assert item["image_id"] == CUB_A and item["orig_size"] == (30, 40)
    assert item["labels"].tolist() == [1.0, 0.0]
    # int(coord), clipped to the 40x30 image; the float coordinates are kept for the 224 frame, the second
    # box (x1 = width, y1 = height: the 1-based habit) clipped to 39, 29 (issue 35 item 13)
    assert item["boxes"].tolist() == [[2, 3, 20, 25], [30, 1, 39, 29]]
    assert item["box_coords"].tolist() == [[2.5, 3.0, 20.9, 25.0], [30.0, 1.0, 39.0, 29.0]]
    assert item["box_labels"].tolist() == [0, 0] and item["masks"] is None
    batch = collate_wsl([ds[0], ds[1]])
    assert batch["labels"].tolist() == [[1.0, 0.0], [0.0, 1.0]] and len(batch["box_coords"]) == 2


def test_empty_image_sizes_reads_the_header(cub: Path):
    ds = WSOLDataset(f"CUB:{cub}", "val", with_annotations=True)
    assert ds.records[0].size == (30, 40)
    assert ds[0]["boxes"].tolist()[1] == [30, 1, 39, 29]


def test_train_split_needs_no_localization_and_labels_are_one_hot(cub: Path):
    ds = WSOLDataset(f"CUB:{cub}", "train", single_label=True)
    assert len(ds) == 2 and ds[1]["labels"].tolist() == [0.0, 1.0] and ds[1]["image"].shape == (3, 128, 128)


def test_data_spec_and_metadata_elsewhere(cub: Path, tmp_path: Path):
    assert parse_data_spec(f"wsol:CUB:{cub}") == ("wsol", f"CUB:{cub}", "wsol")
    with pytest.raises(ValueError, match="wsol:DATASET:ROOT"):
        parse_data_spec("wsol:CUB")
    dm = WSLDataModule(f"wsol:CUB:{cub}", batch_size=2, num_workers=0, single_label=True)
    assert dm.num_classes == 2 and dm.class_names[1] == "002.Laysan_Albatross"
    batch = next(iter(dm.dataloader("test")))
    assert batch["image_id"] == [CUB_A, CUB_B]
    moved = tmp_path / "elsewhere"
    (cub / "metadata").rename(moved)
    assert parse_wsol_root(f"cub:{cub}:metadata={moved}") == ("CUB", cub, moved)
    for meta in (moved, moved / "CUB"):  # the folder of dataset folders, or the dataset's own
        assert len(WSOLDataset(f"CUB:{cub}:metadata={meta}", "test", with_annotations=True)) == 2


def _ilsvrc(tmp_path: Path) -> Path:
    root = tmp_path / "ILSVRC"
    train = ["train/n01440764/n01440764_10026.JPEG", "train/n01443537/n01443537_1.JPEG"]
    val = ["val/ILSVRC2012_val_00000001.JPEG", "val/ILSVRC2012_val_00000002.JPEG"]
    for path in train + val:
        _image(root / path, 32, 24)
    meta = root / "metadata" / "ILSVRC"
    _write(
        meta / "train",
        image_ids="\n".join(train),
        class_labels=f"{train[0]},0\n{train[1]},1\n",
        image_sizes="",
    )
    _write(meta / "val", image_ids="\n".join(val), class_labels=f"{val[0]},1\n{val[1]},0\n",
           image_sizes=f"{val[0]},32,24\n{val[1]},32,24\n",
           localization=f"{val[0]},1,2,30,20\n{val[1]},0,0,31,23\n{val[1]},5,5,9,9\n")  # fmt: skip
    return root


def test_ilsvrc_wnids_from_the_train_split(tmp_path: Path):
    root = _ilsvrc(tmp_path)
    assert default_class_names(f"ILSVRC:{root}", "val") == ["n01440764", "n01443537"]
    ds = WSOLDataset(f"ILSVRC:{root}", "val", with_annotations=True, with_images=False)
    assert ds.class_names == ["n01440764", "n01443537"]
    assert ds[0]["labels"].tolist() == [0.0, 1.0] and ds[1]["boxes"].shape == (2, 4)


def test_class_names_fall_back_to_class_k(tmp_path: Path):
    root = tmp_path / "mine"
    _image(root / "a.jpg", 8, 8)
    _image(root / "b.jpg", 8, 8)
    _write(
        root / "metadata" / "mine" / "train", image_ids="a.jpg\nb.jpg\n", class_labels="a.jpg,0\nb.jpg,2\n"
    )
    assert default_class_names(f"mine:{root}") == ["class_0", "class_1", "class_2"]


OI = "test/01226z/1aee9b7c5e7a1c33.jpg"


def _openimages(tmp_path: Path) -> Path:
    root = tmp_path / "OpenImages"
    _image(root / OI, 20, 10)
    first = np.zeros((10, 20))
    first[2:5, 3:8] = 255
    second = np.zeros((5, 10))
    second[3:5, 8:10] = 1  # half size: resized nearest
    ignore = np.zeros((10, 20))
    ignore[0:6, 0:10] = 255
    _png(root / "test/01226z/1aee9b7c5e7a1c33_m01226z_a.png", first)
    _png(root / "test/01226z/1aee9b7c5e7a1c33_m01226z_b.png", second)
    _png(root / "test/01226z/1aee9b7c5e7a1c33_ignore.png", ignore)
    meta = root / "metadata" / "OpenImages" / "test"
    loc = (f"{OI},test/01226z/1aee9b7c5e7a1c33_m01226z_a.png,test/01226z/1aee9b7c5e7a1c33_ignore.png\n"
           f"{OI},test/01226z/1aee9b7c5e7a1c33_m01226z_b.png,\n")  # fmt: skip
    _write(meta, image_ids=f"{OI}\n", class_labels=f"{OI},0\n", image_sizes=f"{OI},20,10\n", localization=loc)
    return root


def test_openimages_masks_ignore_and_tight_boxes(tmp_path: Path):
    ds = WSOLDataset(f"OpenImages:{_openimages(tmp_path)}", "test", with_annotations=True)
    assert ds.class_names == ["01226z"] and ds.has_masks
    item = ds[0]
    masks = item["masks"]
    assert masks.shape == (2, 10, 20)
    expected = torch.zeros(2, 10, 20, dtype=torch.bool)
    expected[0, 2:5, 3:8] = True
    expected[1, 6:10, 16:20] = True  # the 5x10 mask's pixels (3:5, 8:10), nearest to 10x20
    assert torch.equal(masks, expected)
    ignore = torch.zeros(10, 20, dtype=torch.bool)
    ignore[0:6, 0:10] = True
    ignore[2:5, 3:8] = False  # the ignore box minus the foreground
    assert torch.equal(item["ignore"], ignore)
    assert item["boxes"].tolist() == [[3, 2, 7, 4], [16, 6, 19, 9]] and "box_coords" not in item


BAD = [
    ("class_labels", f"{CUB_A},0\n{CUB_B},one\n", "class_labels.txt:2: class label"),
    ("class_labels", f"{CUB_A},0\n{CUB_B}\n", "class_labels.txt:2: class label"),
    ("class_labels", f"{CUB_A},0\n", "image_ids.txt:2: class label"),
    ("image_sizes", f"{CUB_A},40\n", "image_sizes.txt:1: image size"),
    ("image_sizes", f"{CUB_A},40,0\n", "image_sizes.txt:1: image size"),
    ("localization", f"{CUB_A},1,2,3\n", "localization.txt:1: localization"),
    ("localization", f"{CUB_A},1,2,3,4\n{CUB_B},1,x,3,4\n", "localization.txt:2: y0"),
    ("localization", f"{CUB_A},1,2,3,4\n\n{CUB_B},5,2,3,4\n", "localization.txt:3: box"),
    (
        "localization",
        f"{CUB_A},1,2,3,4\n{CUB_B},1,2,3,4\n{CUB_B},a.png,b.png\n",
        "localization.txt:3: localization",
    ),
    ("localization", f"{CUB_A},1,2,3,4\n", "image_ids.txt:2: localization"),
    ("localization", f"{CUB_A},45,2,46,4\n{CUB_B},1,2,3,4\n", "localization.txt:1: box"),
]


@pytest.mark.parametrize(("name", "text", "where"), BAD)
def test_each_bad_line_is_named_by_file_and_line(cub: Path, name: str, text: str, where: str):
    (cub / "metadata" / "CUB" / "test" / f"{name}.txt").write_text(text)
    with pytest.raises(DatasetError, match=where.replace(".", r"\.")):
        WSOLDataset(f"CUB:{cub}", "test", with_annotations=True)


def test_a_later_mask_line_with_an_ignore_file_is_named(tmp_path: Path):
    root = _openimages(tmp_path)
    loc = root / "metadata" / "OpenImages" / "test" / "localization.txt"
    loc.write_text(loc.read_text().replace("_b.png,\n", "_b.png,x.png\n"))
    with pytest.raises(DatasetError, match=r"localization\.txt:2: ignore file"):
        WSOLDataset(f"OpenImages:{root}", "test", with_annotations=True)


def test_missing_split_and_missing_file_name_the_path(cub: Path):
    with pytest.raises(
        DatasetError, match=r"metadata/CUB/trainval: split: .*splits found: \['test', 'train', 'val'\]"
    ):
        WSOLDataset(f"CUB:{cub}", "trainval")
    (cub / "metadata" / "CUB" / "test" / "localization.txt").unlink()
    with pytest.raises(DatasetError, match=r"localization\.txt: metadata: file not found"):
        WSOLDataset(f"CUB:{cub}", "test", with_annotations=True)


def test_writer_round_trips_through_the_reader(tmp_path: Path):
    from wsl.data.wsol import WSOLWriter

    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    boxes = np.array([[3, 2, 9, 5], [20, 10, 28, 17], [0, 0, 4, 4]], np.int64)
    labels = np.array([1, 0, 1], np.int64)
    writer = WSOLWriter(tmp_path, ["cat", "dog"])
    writer.prepare(["test"])
    masks = np.zeros((3, 20, 30), bool)
    writer.finish(
        {"test": [writer.write_image("test", f"im{k}", image, boxes, labels, masks) for k in range(2)]}
    )
    assert parse_wsol_root(tmp_path) == ("SYNTH", tmp_path, None)
    ds = WSOLDataset(tmp_path, "test", with_annotations=True, image_size=16)
    assert ds.class_names == ["cat"]  # every image is of its largest object's class, "cat"
    item = WSOLDataset(tmp_path, "test", class_names=["cat", "dog"], with_annotations=True)[1]
    assert item["image_id"] == "cat/im1.jpg" and item["orig_size"] == (20, 30)
    assert item["boxes"].tolist() == [[20, 10, 28, 17]] and item["labels"].tolist() == [1.0, 0.0]


def test_synthetic_set_in_the_wsol_layout(tmp_path: Path):
    from wsl.data import make_synthetic

    root = make_synthetic(
        tmp_path / "s", "wsol", progress=False, num_train=3, num_val=2, num_test=4, image_size=48
    )
    dm = WSLDataModule(f"wsol:{root}", batch_size=4, num_workers=0, single_label=True)  # metadata/SYNTH found
    batch = next(iter(dm.dataloader("test")))
    assert all("/" in i for i in batch["image_id"]) and len(batch["box_coords"]) == 4
    assert batch["labels"].sum(dim=1).tolist() == [1.0] * 4 and batch["image"].shape[0] == 4
