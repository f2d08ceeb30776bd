"""The ``wsolevaluation`` protocol equals a straightforward re-implementation of clovaai/wsolevaluation.

The reference below follows wsolevaluation's ``evaluation.py`` and ``inference.py`` line by line, with
numpy and OpenCV only: CAMs cast to float64 (``util.t2n``), resized to 224×224 by
``cv2.resize(..., INTER_CUBIC)`` and normalised by ``normalize_scoremap``, all in float64; per threshold
``cv2.threshold`` at ``int(t · max)`` and ``cv2.findContours(RETR_TREE)``; boxes
``(x, y, min(x+w, 223), min(y+h, 223))``; GT boxes rescaled by ``resize_bbox``
(``int(coord · 224 / size)``); inclusive IoU; masks resized nearest, ignore = ignore box minus
foreground; PxAP from the histograms over ``arange(0, 1, 0.001)`` plus the right edges 1, 2, 3. The data
come from hand-written metadata files read by :class:`wsl.data.WSOLDataset`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from wsl.data import WSOLDataset, collate_wsl
from wsl.evaluation import LocalizationEvaluator

R = 224


# ------------------------------------------------------------------ reference (wsolevaluation's rules)


def normalize_scoremap(cam: np.ndarray) -> np.ndarray:
    if np.isnan(cam).any() or cam.min() == cam.max():
        return np.zeros_like(cam)
    cam = cam - cam.min()
    return cam / cam.max()


def reference_scoremap(cam: np.ndarray) -> np.ndarray:
    cam = cam.astype(np.float64)  # util.t2n: .numpy().astype(np.float)
    if cam.shape != (R, R):
        cam = cv2.resize(cam, (R, R), interpolation=cv2.INTER_CUBIC)
    return normalize_scoremap(cam)


def boxes_from_scoremap(scoremap: np.ndarray, thresholds: np.ndarray, multi: bool):
    height, width = scoremap.shape
    image = np.expand_dims((scoremap * 255).astype(np.uint8), 2)
    out = []
    for threshold in thresholds:
        _, binary = cv2.threshold(image, int(threshold * np.max(image)), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            out.append(np.asarray([[0, 0, 0, 0]]))
            continue
        if not multi:
            contours = [max(contours, key=cv2.contourArea)]
        boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        out.append(np.asarray(boxes))
    return out


def resize_bbox(box, image_size):
    x0, y0, x1, y1 = map(float, box)
    w, h = map(float, image_size)
    return int(x0 * R / w), int(y0 * R / h), int(x1 * R / w), int(y1 * R / h)


def multiple_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a[:, None, :], b[None, :, :]
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    iw = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    ih = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    inter = iw * ih
    return inter / (area_a + area_b - inter)


def reference_box_acc(
    scoremaps, gt_boxes, sizes, multi: bool, deltas, interval=0.001
) -> dict[int, np.ndarray]:
    """BoxAcc (%) per threshold for each IoU cut ``delta``; MaxBoxAcc is the curve's maximum."""
    thresholds = np.arange(0, 1, interval)
    correct = {d: np.zeros(len(thresholds)) for d in deltas}
    for scoremap, boxes, size in zip(scoremaps, gt_boxes, sizes, strict=True):
        gt = np.asarray([resize_bbox(b, size) for b in boxes])
        for k, pred in enumerate(boxes_from_scoremap(scoremap, thresholds, multi)):
            best = multiple_iou(pred, gt).max()
            for d in deltas:
                correct[d][k] += best >= d / 100
    return {d: correct[d] * 100.0 / len(scoremaps) for d in deltas}


def reference_pxap(scoremaps, fg_masks, ignore_boxes, interval=0.001) -> float:
    edges = np.append(np.arange(0, 1, interval), [1.0, 2.0, 3.0])
    true_hist = np.zeros(len(edges) - 1)
    false_hist = np.zeros(len(edges) - 1)
    for scoremap, fgs, ignore_box in zip(scoremaps, fg_masks, ignore_boxes, strict=True):
        fg = np.stack(
            [cv2.resize(np.float32(m), (R, R), interpolation=cv2.INTER_NEAREST) > 0.5 for m in fgs]
        ).any(0)
        ignore = cv2.resize(np.float32(ignore_box), (R, R), interpolation=cv2.INTER_NEAREST) > 0.5
        gt = fg.astype(np.uint8) + 255 * (ignore & ~fg).astype(np.uint8)
        true_hist += np.histogram(scoremap[gt == 1], bins=edges)[0]
        false_hist += np.histogram(scoremap[gt == 0], bins=edges)[0]
    tp = true_hist[::-1].cumsum()
    fn = true_hist.sum() - tp
    fp = false_hist[::-1].cumsum()
    non_zero = (tp + fp) != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    return float((precision[1:] * np.diff(recall))[non_zero[1:]].sum() * 100)


# ------------------------------------------------------------------ fixtures


def _blobs(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cam = 0.2 * rng.random((h, w), dtype=np.float32)
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.random() * h, rng.random() * w
        s = 0.5 + rng.random() * max(h, w) / 4
        cam += rng.random() * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return cam.astype(np.float32)


SIZES = [(300, 200), (150, 260), (224, 224), (97, 131), (500, 375), (64, 480), (333, 333), (210, 90)]


def _cub(tmp_path: Path, rng: np.random.Generator):
    root = tmp_path / "CUB"
    ids, labels, sizes, loc, boxes = [], [], [], [], []
    for k, (w, h) in enumerate(SIZES * 2):
        image_id = f"00{k % 2 + 1}.class_{k % 2}/img_{k}.jpg"
        (root / image_id).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h)).save(root / image_id)
        own = []
        for _ in range(1 + k % 3):  # one to three boxes, float coordinates
            x0, x1 = np.sort(rng.random(2) * w)
            y0, y1 = np.sort(rng.random(2) * h)
            own.append((round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1)))
            loc.append(f"{image_id},{own[-1][0]},{own[-1][1]},{own[-1][2]},{own[-1][3]}")
        ids.append(image_id)
        labels.append(f"{image_id},{k % 2}")
        sizes.append(f"{image_id},{w},{h}")
        boxes.append(own)
    meta = root / "metadata" / "CUB" / "test"
    meta.mkdir(parents=True)
    for name, lines in (
        ("image_ids", ids),
        ("class_labels", labels),
        ("image_sizes", sizes),
        ("localization", loc),
    ):
        (meta / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return root, ids, boxes


def _evaluate(dataset: WSOLDataset, cams: dict[str, np.ndarray], protocol: str = "wsolevaluation"):
    evaluator = LocalizationEvaluator(dataset.num_classes, single_label=True, protocol=protocol)
    items = [dataset[i] for i in range(len(dataset))]
    for start in range(0, len(items), 5):
        batch = collate_wsl(items[start : start + 5])
        evaluator.update_localization(
            batch,
            lambda i, classes, b=batch: torch.from_numpy(cams[b["image_id"][i]]).expand(len(classes), -1, -1),
        )
    return evaluator.compute(), evaluator


def test_maxboxacc_and_maxboxacc_v2_equal_wsolevaluation(tmp_path: Path):
    rng = np.random.default_rng(0)
    root, ids, boxes = _cub(tmp_path, rng)
    # feature-map-sized CAMs, and one saved 224x224 score map as wsolevaluation's inference.py writes
    cams = {image_id: _blobs(rng, (7, 7) if k % 3 else (14, 10)) for k, image_id in enumerate(ids)}
    cams[ids[5]] = reference_scoremap(_blobs(rng, (28, 28)))
    dataset = WSOLDataset(f"CUB:{root}", "test", with_annotations=True, with_images=False)
    results, evaluator = _evaluate(dataset, cams)
    scoremaps = [reference_scoremap(cams[i]) for i in ids]
    sizes = [SIZES[k % len(SIZES)] for k in range(len(ids))]
    single = reference_box_acc(scoremaps, boxes, sizes, multi=False, deltas=(50,))[50]
    multi = reference_box_acc(scoremaps, boxes, sizes, multi=True, deltas=(30, 50, 70))
    assert results["maxboxacc"] * 100 == pytest.approx(single.max(), abs=1e-9)
    assert results["maxboxacc_v2"] * 100 == pytest.approx(
        np.mean([c.max() for c in multi.values()]), abs=1e-9
    )
    # the whole BoxAcc curves, threshold by threshold (1000 thresholds at the protocol's 0.001)
    curves = evaluator.curves()
    assert len(curves["thresholds"]) == 1000
    np.testing.assert_allclose(np.asarray(curves["maxboxacc"]) * 100, single, atol=1e-9)
    for delta, curve in multi.items():
        np.testing.assert_allclose(np.asarray(curves[f"maxboxacc_v2_{delta}"]) * 100, curve, atol=1e-9)
    assert 0 < single.max() < 100 and len(set(single.tolist())) > 3  # neither trivial nor flat


def test_pxap_equals_wsolevaluation(tmp_path: Path):
    rng = np.random.default_rng(1)
    root = tmp_path / "OpenImages"
    meta = root / "metadata" / "OpenImages" / "test"
    meta.mkdir(parents=True)
    ids, loc, fgs, ignores, cams = [], [], [], [], {}
    for k, (w, h) in enumerate(SIZES):
        image_id = f"test/0{k % 2}abc/{k:04d}.jpg"
        (root / image_id).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h)).save(root / image_id)
        yy, xx = np.mgrid[0:h, 0:w]
        own = []
        for j in range(1 + k % 2):
            cy, cx, r = rng.random() * h, rng.random() * w, 5 + rng.random() * min(h, w) / 3
            mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.uint8) * 255
            name = image_id.replace(".jpg", f"_m{j}.png")
            Image.fromarray(mask).save(root / name)
            own.append(mask)
            ignore_name = image_id.replace(".jpg", "_ignore.png") if j == 0 else ""
            loc.append(f"{image_id},{name},{ignore_name}")
        ignore = np.zeros((h, w), np.uint8)
        ignore[: h // 3, : w // 2] = 255
        Image.fromarray(ignore).save(root / image_id.replace(".jpg", "_ignore.png"))
        ids.append(image_id)
        fgs.append(own)
        ignores.append(ignore)
        cams[image_id] = _blobs(rng, (7, 7))
    (meta / "image_ids.txt").write_text("\n".join(ids) + "\n")
    (meta / "class_labels.txt").write_text("\n".join(f"{i},{k % 2}" for k, i in enumerate(ids)) + "\n")
    (meta / "image_sizes.txt").write_text("")
    (meta / "localization.txt").write_text("\n".join(loc) + "\n")
    dataset = WSOLDataset(f"OpenImages:{root}", "test", with_annotations=True, with_images=False)
    results, _ = _evaluate(dataset, cams)
    expected = reference_pxap([reference_scoremap(cams[i]) for i in ids], fgs, ignores)
    assert results["pxap"] * 100 == pytest.approx(expected, abs=1e-9)
    assert 0 < expected < 100


def test_score_maps_in_wsolevaluations_layout_are_scored_by_evaluate_cams(tmp_path: Path, capsys):
    """``<root>/<image_id>.npy`` with nested folders from the ids, float64 in [0, 1] at 224×224, as
    wsolevaluation's inference.py saves them (``np.save(ospj(scoremap_root, image_id), cam)``)."""
    from tools.evaluate import evaluate

    rng = np.random.default_rng(2)
    root, ids, boxes = _cub(tmp_path, rng)
    scoremaps = [reference_scoremap(_blobs(rng, (7, 7))) for _ in ids]
    saved = tmp_path / "scoremaps"
    for image_id, scoremap in zip(ids, scoremaps, strict=True):
        (saved / image_id).parent.mkdir(parents=True, exist_ok=True)
        np.save(saved / image_id, scoremap)  # np.save appends .npy: <id>.npy
    assert (saved / f"{ids[0]}.npy").is_file()
    out = tmp_path / "evaluation.json"
    argv = [
        "--cams",
        str(saved),
        "--data",
        f"wsol:CUB:{root}",
        "--single-label",
        "--protocol",
        "wsolevaluation",
    ]
    payload = evaluate([*argv, "--no-progress", "--out", str(out)])  # tools/evaluate.py
    assert "wsolevaluation frame" in capsys.readouterr().out and out.is_file()
    assert payload["protocol"] == "wsolevaluation" and payload["results"]["images_scored"] == len(ids)
    sizes = [SIZES[k % len(SIZES)] for k in range(len(ids))]
    multi = reference_box_acc(scoremaps, boxes, sizes, multi=True, deltas=(30, 50, 70))
    single = reference_box_acc(scoremaps, boxes, sizes, multi=False, deltas=(50,))[50]
    results = payload["results"]
    assert results["maxboxacc"] * 100 == pytest.approx(single.max(), abs=1e-9)
    assert results["maxboxacc_v2"] * 100 == pytest.approx(
        np.mean([c.max() for c in multi.values()]), abs=1e-9
    )


def test_the_frames_8_bit_maps_are_wsolevaluations_for_the_same_raw_maps():
    """The uint8 maps that the box rule thresholds, map by map, equal ``(scoremap * 255).astype(uint8)`` of
    the float64 reference; the same pipeline in float32 would differ (by one level) on some of them."""
    from wsl.cam import CamBatch

    rng = np.random.default_rng(3)
    raw = [_blobs(rng, (7, 7) if k % 2 else (28, 28)) * rng.random() * 50 for k in range(80)]
    cams = CamBatch.from_maps(
        lambda i, classes: torch.from_numpy(raw[i])[None],
        [(200, 300)] * len(raw),
        [[0]] * len(raw),
        frame="wsolevaluation",
    )
    ours = np.stack([q.numpy() for q in cams.quantized])
    reference = np.stack([(reference_scoremap(m) * 255).astype(np.uint8) for m in raw])
    np.testing.assert_array_equal(ours, reference)
    assert all(c.dtype == torch.float64 for c in cams.cams)
    in_float32 = []
    for m in raw:
        resized = cv2.resize(m.astype(np.float32), (R, R), interpolation=cv2.INTER_CUBIC)
        low = resized - resized.min()
        in_float32.append(((low / low.max()) * np.float32(255)).astype(np.uint8))
    assert (np.stack(in_float32) != reference).any()  # the test can tell the two precisions apart


def test_protocol_defaults_and_checks():
    from wsl.cam import CamBatch

    assert LocalizationEvaluator(2).cam_curve_interval == 0.01
    assert LocalizationEvaluator(2, protocol="wsolevaluation").cam_curve_interval == 0.001
    assert (
        LocalizationEvaluator(2, cam_curve_interval=0.01, protocol="wsolevaluation").cam_curve_interval
        == 0.01
    )
    with pytest.raises(
        ValueError, match=r"protocol: got 'wsolevaluatoin' \(did you mean 'wsolevaluation'\?\)"
    ):
        LocalizationEvaluator(2, protocol="wsolevaluatoin")
    batch = {
        "image_id": ["a"],
        "orig_size": torch.tensor([[30, 40]]),
        "labels": torch.tensor([[1.0, 0.0]]),
        "boxes": [torch.tensor([[2, 3, 20, 25]])],
        "box_labels": [torch.tensor([0])],
        "difficult": [torch.tensor([False])],
        "masks": [None],
        "ignore": [None],
    }
    cams = CamBatch.from_output(torch.zeros(1, 2), torch.rand(1, 2, 7, 7), batch, frame="wsolevaluation")
    assert cams.frame == "wsolevaluation" and tuple(cams.cams[0].shape) == (R, R)
    with pytest.raises(ValueError, match="'wsolevaluation' frame but the evaluator's protocol is 'original'"):
        LocalizationEvaluator(2).update_cams(cams, batch)
    # without float coordinates the int boxes are rescaled: int(2 * 224 / 40) = 11, int(25 * 224 / 30) = 186
    from wsl.evaluation import image_trials

    assert image_trials(batch, 0, "wsolevaluation")[0].boxes.tolist() == [[11, 22, 112, 186]]
