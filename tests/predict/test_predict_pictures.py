"""One reader for evaluate and predict, refused bombs, bounded pictures (issue 35 items 4, 11, 14).

The network inputs are compared element for element between a dataset item (what ``evaluate --ckpt``
feeds) and ``predict``'s loader item; the box scaling is checked against hand-computed pixels.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wsl.data import VOCDataset
from wsl.jobs.predict import ImagePrediction, PredictOptions, iter_predictions, predict, predict_to_folder
from wsl.jobs.predict.core import PICTURE_SIDE, Predictor, _Files, scale_boxes, shrink_to
from wsl.jobs.predict.images import ImageFile
from wsl.lit import WSLModule


def _image(mode: str, rng: np.random.Generator) -> Image.Image:
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (30, 40)).astype(np.uint16))
    if mode == "RGBA":
        return Image.fromarray(rng.integers(0, 256, (30, 40, 4), dtype=np.uint8), "RGBA")
    rgb = Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    if mode == "P-transparent":
        image = rgb.convert("P")
        image.info["transparency"] = 3
        return image
    return rgb.convert(mode)


def _voc(root: Path, image: Image.Image, suffix: str) -> Path:
    for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    path = root / "JPEGImages" / f"a{suffix}"
    image.save(path)
    box = "<bndbox><xmin>2</xmin><ymin>2</ymin><xmax>20</xmax><ymax>20</ymax></bndbox>"
    (root / "Annotations" / "a.xml").write_text(
        "<annotation><size><width>40</width><height>30</height><depth>3</depth></size>"
        f"<object><name>dog</name><difficult>0</difficult>{box}</object></annotation>"
    )
    (root / "ImageSets" / "Main" / "test.txt").write_text("a\n")
    return path


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "P-transparent", "CMYK", "RGBA", "LA", "I;16"])
def test_the_same_file_reaches_the_network_identically_through_evaluate_and_predict(tmp_path, mode):
    suffix = ".jpg" if mode in ("CMYK", "RGB") else ".png"
    path = _voc(tmp_path / "voc", _image(mode, np.random.default_rng(0)), suffix)
    from_dataset = VOCDataset(tmp_path / "voc", "test", image_size=32)[0]["image"]
    from_predict = _Files([ImageFile(path, 1)], 32, PredictOptions())[0]["image"]
    torch.testing.assert_close(from_predict, from_dataset, rtol=0, atol=0)


def _bomb(path: Path) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def _module() -> WSLModule:
    return WSLModule(num_classes=2, class_names=["Fußball", "鸟"], pool="gap").eval()


def test_a_decompression_bomb_is_skipped_with_the_readers_reason(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 30), (90, 60, 30)).save(good)
    _bomb(tmp_path / "bomb.png")
    skipped: list[str] = []
    predictor = Predictor.load(_module(), threshold=0.5, image_size=32, device="cpu")
    results = list(iter_predictions(predictor, [good, tmp_path / "bomb.png"], skipped=skipped))
    assert [r.path.name for r in results] == ["good.png"]
    assert len(skipped) == 1 and "bomb.png: a decompression bomb" in skipped[0]


def test_scale_boxes_covers_the_same_pixels_by_hand():
    boxes = np.array([[0, 0, 9, 9], [10, 5, 19, 14], [3, 3, 3, 3]])
    # 20 x 30 (H x W) -> 10 x 15: factor 1/2; x1' = ceil((x1 + 1) / 2) - 1
    assert scale_boxes(boxes, (20, 30), (10, 15)).tolist() == [[0, 0, 4, 4], [5, 2, 9, 7], [1, 1, 1, 1]]
    assert scale_boxes(boxes, (20, 30), (20, 30)).tolist() == boxes.tolist()
    assert scale_boxes(np.zeros((0, 4), np.int64), (20, 30), (10, 15)).shape == (0, 4)


def test_shrink_to_keeps_small_images_and_bounds_the_longest_side():
    small = np.zeros((30, 40, 3), np.uint8)
    assert shrink_to(small, 40) is small and shrink_to(small, None) is small
    assert shrink_to(np.zeros((3000, 4000, 3), np.uint8), 1024).shape == (768, 1024, 3)
    assert shrink_to(np.zeros((5000, 10, 3), np.uint8), 100).shape == (100, 1, 3)


def test_kept_pixels_are_bounded_and_the_maps_follow_them(tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (300, 500, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    module = _module()
    [full] = predict(module, [tmp_path / "big.png"], threshold=0.5, image_size=32, device="cpu",
                     keep_pixels=True)  # fmt: skip
    [small] = predict(module, [tmp_path / "big.png"], threshold=0.5, image_size=32, device="cpu",
                      keep_pixels=True, picture_side=100)  # fmt: skip
    assert isinstance(small, ImagePrediction) and small.size == full.size == (300, 500)
    assert full.pixels is not None and full.pixels.shape == (300, 500, 3)
    assert small.pixels is not None and small.pixels.shape == (60, 100, 3)
    torch.testing.assert_close(small.cams[0], full.cams[0], rtol=0, atol=0)  # maps stay at the image size
    cam, boxes = small.picture_maps(0)
    assert cam.shape == (60, 100)
    assert boxes.tolist() == scale_boxes(full.boxes[0], (300, 500), (60, 100)).tolist()
    same_cam, same_boxes = full.picture_maps(0)
    np.testing.assert_array_equal(same_cam, full.cams[0].numpy())
    assert same_boxes is full.boxes[0]


def test_the_folder_draws_bounded_pictures_and_a_sheet_of_thumbnails(tmp_path):
    rng = np.random.default_rng(2)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (900, 1500, 3), dtype=np.uint8)).save(tmp_path / f"p{k}.jpg")
    out = tmp_path / "out"
    files = [tmp_path / f"p{k}.jpg" for k in range(3)]
    predict_to_folder(_module(), files, out, threshold=0.5, image_size=32, device="cpu", thumb_size=128,
                      progress=False)  # fmt: skip
    manifest = json.loads((out / "cams.json").read_text())
    assert [image["size"] for image in manifest["images"]] == [[900, 1500]] * 3
    with Image.open(out / manifest["entries"][0]["image"]) as overlay:
        assert overlay.size[0] <= PICTURE_SIDE + 200 and overlay.size[1] <= PICTURE_SIDE
    with Image.open(out / "contact_sheet.png") as sheet:
        width, height = sheet.size
    assert width <= 3 * 128 + 4 * 4 and height <= 128 + 2 * 4  # three 128-px tiles and the padding
    assert np.load(out / "cams" / "p0.npz")[
        manifest["npz_keys"][manifest["entries"][0]["class_name"]]
    ].shape == (
        900,
        1500,
    )


def test_unknown_option_names_are_a_type_error_and_bad_values_name_the_field():
    with pytest.raises(TypeError, match="unexpected keyword argument 'topk'"):
        predict(_module(), ["x.png"], topk=3)
    with pytest.raises(ValueError, match="picture_side must be a positive int"):
        PredictOptions(picture_side=0)
    with pytest.raises(ValueError, match="num_workers must be an int >= 0"):
        PredictOptions(num_workers=-1)
