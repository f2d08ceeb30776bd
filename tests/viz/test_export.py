"""wsl.jobs.export, cam_files, render: files, sizes, the .npz format, the gallery, options, errors."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from wsl.cam import CLASS_POLICIES, CamBatch, upsample_class_maps
from wsl.data import WSLDataModule
from wsl.data.base import read_image
from wsl.jobs.export import CLASS_MODES, export_cams
from wsl.lit import WSLModule
from wsl.metrics.boxes import box_iou_inclusive, cam_to_boxes
from wsl.runs import RunFolder, parse_threshold
from wsl.viz import cam_files, load_cam_npz
from wsl.viz.render import render_overlay


def make_module(dm: WSLDataModule, pool: str = "gap", single_label: bool = False) -> WSLModule:
    torch.manual_seed(0)
    module = WSLModule(
        num_classes=dm.num_classes,
        class_names=dm.class_names,
        backbone="resnet18",
        pool=pool,
        single_label=single_label,
    )
    return module.eval()


@pytest.fixture(scope="module")
def dm(synthetic_voc_root: Path) -> WSLDataModule:
    return WSLDataModule(data=f"voc:{synthetic_voc_root}", image_size=64, batch_size=3, num_workers=0)


@pytest.fixture(scope="module")
def module(dm: WSLDataModule) -> WSLModule:
    return make_module(dm)


@pytest.fixture(scope="module")
def exported(module, dm, tmp_path_factory):
    """One export of the 4 test images with the ground-truth classes."""
    out = tmp_path_factory.mktemp("export") / "out"
    summary = export_cams(
        module, dm.dataloader("test"), out, classes="present", threshold=0.4, progress=False
    )
    return out, summary, json.loads((out / "cams.json").read_text())


def test_files_exist_decode_and_match_the_original_sizes(exported, dm):
    out, summary, manifest = exported
    ds = dm.dataset("test")
    assert summary["num_images"] == len(ds) == len(manifest["images"]) == 4
    assert summary["num_cams"] == len(manifest["entries"]) == sum(int(r.labels.sum()) for r in ds.records)
    sizes = {r.image_id: read_image(r.image_path).shape[:2] for r in ds.records}
    for entry in manifest["entries"]:
        picture = cv2.imread(str(out / entry["image"]))
        assert picture is not None and picture.dtype == np.uint8
        height, width = sizes[entry["image_id"]]
        # overlay at the original size in the top-left corner, colour bar right, caption below
        assert picture.shape[0] > height and picture.shape[1] > width
        assert cv2.imread(str(out / entry["thumb"])) is not None
    sheet = cv2.imread(summary["contact_sheet"])
    assert sheet is not None and sheet.shape[0] > 64
    assert not list(out.glob(".*")), "temporary files left behind"


def test_npz_holds_float16_maps_at_the_original_size_keyed_by_class(exported, dm):
    out, _, manifest = exported
    ds = dm.dataset("test")
    for record, meta in zip(ds.records, manifest["images"], strict=True):
        assert meta["image_id"] == record.image_id
        cams = load_cam_npz(out / meta["npz"])
        expected = {dm.class_names[c] for c in np.flatnonzero(record.labels)}
        assert set(cams) == expected == set(meta["classes"]) == set(meta["cam_range"])
        for cam in cams.values():
            assert cam.dtype == np.float16 and cam.shape == tuple(meta["size"])
            assert cam.shape == read_image(record.image_path).shape[:2]
            assert float(cam.min()) == 0.0 and float(cam.max()) == 1.0
        with np.load(out / meta["npz"]) as plain:  # plain numpy reads it too
            assert sorted(plain.files) == sorted(expected)


def test_maps_boxes_and_iou_follow_the_metrics_rule(exported, module, dm):
    out, _, manifest = exported
    batch = next(iter(dm.dataloader("test", batch_size=4)))
    with torch.no_grad():
        scores, class_maps = module.net(batch["image"])
    by_key = {(e["image_id"], e["class_name"]): e for e in manifest["entries"]}
    for i, image_id in enumerate(batch["image_id"]):
        size = tuple(int(s) for s in batch["orig_size"][i])
        cams = load_cam_npz(out / manifest["images"][i]["npz"])
        assert manifest["images"][i]["probs"] == pytest.approx(scores[i].sigmoid().tolist(), abs=1e-5)
        for c in np.flatnonzero(batch["labels"][i].numpy()):
            name = dm.class_names[c]
            cam = upsample_class_maps(class_maps[i, c][None], size)[0].numpy()
            norm = (cam - cam.min()) / (cam.max() - cam.min())
            np.testing.assert_allclose(cams[name].astype(np.float32), norm, atol=1e-3)
            lo, hi = manifest["images"][i]["cam_range"][name]
            assert (lo, hi) == pytest.approx((float(cam.min()), float(cam.max())), abs=1e-4)
            entry = by_key[(image_id, name)]
            pred = cam_to_boxes(cam, 0.4, multi_contour=False)
            assert entry["pred_boxes"] == pred.tolist()
            gt = batch["boxes"][i][batch["box_labels"][i] == c].numpy()
            assert entry["iou"] == pytest.approx(float(box_iou_inclusive(pred, gt).max()))
            assert entry["score"] == pytest.approx(float(scores[i, c].sigmoid()), abs=1e-5)


def test_gallery_references_only_existing_files(exported):
    out, _, manifest = exported
    page = (out / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(refs) >= 3 * len(manifest["entries"]) - len(manifest["entries"])  # image, thumb, npz links
    for ref in refs:
        assert (out / ref).is_file(), ref
    assert "data-iou" in page and "GT boxes green" in page


def test_overlay_is_drawn_on_the_original_image_file(module, dm, tmp_path):
    # alpha=0: the top-left block is the decoded original file wherever no box is drawn
    export_cams(module, dm.dataloader("test", limit=1), tmp_path, alpha=0.0, progress=False)
    manifest = json.loads((tmp_path / "cams.json").read_text())
    record = dm.dataset("test").records[0]
    original = read_image(record.image_path)
    entry = manifest["entries"][0]
    picture = cv2.imread(str(tmp_path / entry["image"]))[:, :, ::-1]
    height, width = original.shape[:2]
    block = picture[:height, :width]
    untouched = np.ones((height, width), bool)
    boxes = [*entry["pred_boxes"], *record.boxes.tolist()]
    for x0, y0, x1, y1 in boxes:  # box outlines are at most a few pixels thick
        untouched[max(y0 - 1, 0) : y1 + 2, max(x0 - 1, 0) : x1 + 2] = False
        untouched[y0 + 3 : y1 - 2, x0 + 3 : x1 - 2] = True
    assert untouched.sum() > 0.3 * untouched.size
    np.testing.assert_array_equal(block[untouched], original[untouched])


@pytest.mark.parametrize("classes, per_image", [("all", 6), ("top1", 1)])
def test_limit_and_classes_are_respected(module, dm, tmp_path, classes, per_image):
    summary = export_cams(module, dm.dataloader("test"), tmp_path, classes=classes, limit=2, progress=False)
    manifest = json.loads((tmp_path / "cams.json").read_text())
    assert summary["num_images"] == len(manifest["images"]) == 2
    assert summary["num_cams"] == 2 * per_image == len(list((tmp_path / "overlays").glob("*.png")))
    for meta in manifest["images"]:
        assert len(load_cam_npz(tmp_path / meta["npz"])) == per_image
        if classes == "top1":
            assert meta["classes"] == [dm.class_names[int(np.argmax(meta["scores"]))]]


def test_sheet_size_and_multi_contour(module, dm, tmp_path):
    summary = export_cams(
        module,
        dm.dataloader("test"),
        tmp_path,
        classes="all",
        sheet_size=0,
        multi_contour=True,
        progress=False,
    )
    assert summary["contact_sheet"] is None and not (tmp_path / "contact_sheet.png").exists()
    assert json.loads((tmp_path / "cams.json").read_text())["multi_contour"] is True


@pytest.mark.parametrize("pool", ["gmp", "autopool"])
def test_single_label_data_and_other_pools(synthetic_voc_root, tmp_path, pool):
    dm = WSLDataModule(
        data=f"voc:{synthetic_voc_root}", image_size=64, batch_size=4, num_workers=0, single_label=True
    )
    module = make_module(dm, pool=pool, single_label=True)
    summary = export_cams(module, dm.dataloader("test", limit=2), tmp_path, progress=False)
    manifest = json.loads((tmp_path / "cams.json").read_text())
    assert summary["num_cams"] == 2  # one ground-truth class per image
    for meta in manifest["images"]:
        assert sum(meta["probs"]) == pytest.approx(1.0, abs=1e-5)  # softmax
        assert len(meta["classes"]) == 1


def _batch(ids: list[str], size: int = 40) -> dict:
    num = len(ids)
    labels = torch.zeros(num, 6)
    labels[:, 0] = 1
    return {
        "image": torch.randn(num, 3, 64, 64),
        "labels": labels,
        "image_id": ids,
        "orig_size": torch.tensor([[size, size + 8]] * num),
        "boxes": [torch.tensor([[2, 3, 20, 30]])] * num,
        "box_labels": [torch.tensor([0])] * num,
    }


def test_hostile_image_ids_stay_inside_the_out_dir(module, tmp_path):
    out = tmp_path / "a" / "b" / "out"
    ids = ["../../evil", "/etc/passwd", "x/../../../y", "a/b", "a_b", "<script>"]
    summary = export_cams(module, [_batch(ids)], out, progress=False)
    assert summary["num_images"] == len(ids)
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and out not in p.parents]
    assert outside == []
    manifest = json.loads((out / "cams.json").read_text())
    npz = [m["npz"] for m in manifest["images"]]
    assert len(set(npz)) == len(ids)  # 'a/b' and 'a_b' do not overwrite each other
    for meta in manifest["images"]:
        path = (out / meta["npz"]).resolve()
        assert path.parent == (out / "cams").resolve() and path.is_file()
        assert load_cam_npz(path)["circle"].shape == (40, 48)  # de-normalised fallback image, orig size
    assert "&lt;script&gt;" in (out / "index.html").read_text()


def test_index_html_is_never_half_written(module, dm, tmp_path, monkeypatch):
    (tmp_path / "index.html").write_text("old")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cam_files, "write_gallery", broken)
    with pytest.raises(OSError, match="disk full"):
        export_cams(module, dm.dataloader("test", limit=1), tmp_path, progress=False)
    assert (tmp_path / "index.html").read_text() == "old"
    assert not list(tmp_path.glob(".*")), "temporary files left behind"


def test_render_overlay_geometry():
    image = np.full((30, 50, 3), 100, np.uint8)
    cam = np.random.default_rng(0).random((30, 50))
    plain = render_overlay(image, cam)
    assert plain.shape[0] == 30 and plain.shape[1] > 50
    captioned = render_overlay(
        image, cam, [[0, 0, 10, 10]], [[5, 5, 20, 20]], caption=["a long caption line"]
    )
    assert captioned.shape[0] > 30 and captioned.shape[1] >= plain.shape[1]
    np.testing.assert_array_equal(captioned[0, 0], (0, 255, 0))  # GT box corner
    np.testing.assert_array_equal(captioned[20, 20], (255, 48, 48))  # predicted box corner


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"classes": "nope"}, r"classes: got 'nope'; expected one of \['all', 'gt'"),
        ({"classes": "top"}, "did you mean 'top1'"),
        ({"threshold": 1.0}, r"threshold must be in \[0, 1\)"),
        ({"threshold": -0.1}, r"threshold must be in \[0, 1\)"),
        ({"threshold": "abc"}, "threshold must be 'best' or a number"),
        ({"limit": 0}, "limit must be a positive int"),
        ({"sheet_size": -1}, "sheet_size must be an int"),
        ({"class_names": ["a", "b"]}, "class_names has 2 names but the model outputs 6"),
    ],
)
def test_bad_arguments_raise(module, dm, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        export_cams(module, dm.dataloader("test", limit=1), tmp_path / "out", progress=False, **kwargs)


def test_out_dir_that_is_a_file_raises(module, dm, tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        export_cams(module, dm.dataloader("test", limit=1), path, progress=False)


def test_batches_without_the_needed_keys_raise(module, tmp_path):
    with pytest.raises(ValueError, match="batches must be dicts with 'image'"):
        export_cams(module, [{"image": torch.zeros(1, 3, 64, 64)}], tmp_path, progress=False)


def test_best_threshold_reads_results_json(tmp_path):
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    ckpt.parent.mkdir(parents=True)
    run = RunFolder.of_checkpoint(ckpt)
    assert run.best_threshold()[0] == 0.5 and "no results.json" in run.best_threshold()[1]
    (tmp_path / "run" / "results.json").write_text(json.dumps({"test": {"maxboxacc_threshold": 0.37}}))
    value, note = run.best_threshold()
    assert value == pytest.approx(0.37) and "results.json" in note
    (tmp_path / "run" / "results.json").write_text(json.dumps({"test": {}}))
    value, note = run.best_threshold()
    assert value == 0.5 and note.startswith("note:")


def test_parse_threshold_and_training_image_size(tmp_path):
    assert parse_threshold("0.25") == 0.25 and parse_threshold(0) == 0.0
    with pytest.raises(ValueError, match="threshold"):
        parse_threshold("nan")
    ckpt = tmp_path / "checkpoints" / "best.ckpt"
    assert RunFolder.of_checkpoint(ckpt).training_image_size(ckpt)[0] == 128
    (tmp_path / "config.yaml").write_text("data:\n  image_size: 96\n")
    assert RunFolder.of_checkpoint(ckpt).training_image_size(ckpt)[0] == 96


def test_class_modes_are_the_policy_registry(module, dm, tmp_path):
    assert CLASS_MODES is CLASS_POLICIES
    assert set(CLASS_MODES) == {"gt", "present", "top1", "all"}
    from wsl.cam import register_policy

    register_policy("last")(lambda scores, item: [int(scores.shape[-1]) - 1])
    try:  # a policy registered later is accepted by the export too
        summary = export_cams(
            module, dm.dataloader("test", limit=2), tmp_path, classes="last", progress=False
        )
        manifest = json.loads((tmp_path / "cams.json").read_text())
        assert summary["num_cams"] == 2 and manifest["classes"] == "last"
        assert all(meta["classes"] == [dm.class_names[-1]] for meta in manifest["images"])
    finally:
        CLASS_POLICIES.pop("last")


def test_npz_maps_are_float16_of_the_pipeline_cams_and_ranges_its_raw_range(exported, module, dm):
    out, _, manifest = exported
    metas = iter(manifest["images"])
    for batch in dm.dataloader("test"):  # the export's own batches (batch_size 3), so bit-equal maps
        with torch.inference_mode():
            scores, class_maps = module.net(batch["image"])
        cams = CamBatch.from_output(scores, class_maps, batch, policy="present")
        for i in range(len(batch["image_id"])):
            meta = next(metas)
            saved = load_cam_npz(out / meta["npz"])
            assert list(saved) == meta["classes"] == [dm.class_names[c] for c in cams.classes[i]]
            for p in cams.of_image(i):
                name = dm.class_names[int(cams.class_index[p])]
                np.testing.assert_array_equal(saved[name], cams.cams[p].numpy().astype(np.float16))
                assert meta["cam_range"][name] == cams.raw_range[p].tolist()
                entry = next(
                    e
                    for e in manifest["entries"]
                    if (e["image_id"], e["class_name"]) == (meta["image_id"], name)
                )
                assert (
                    entry["pred_boxes"]
                    == cam_to_boxes(cams.quantized[p].numpy(), 0.4, multi_contour=False).tolist()
                )
    assert next(metas, None) is None


def test_gt_policy_exports_the_classes_with_a_non_difficult_box(module, dm, tmp_path):
    export_cams(module, dm.dataloader("test"), tmp_path, classes="gt", progress=False)
    manifest = json.loads((tmp_path / "cams.json").read_text())
    assert manifest["classes"] == "gt"
    for record, meta in zip(dm.dataset("test").records, manifest["images"], strict=True):
        keep = sorted(
            {int(c) for c, hard in zip(record.box_labels, record.difficult, strict=True) if not hard}
        )
        assert meta["classes"] == [dm.class_names[c] for c in keep] and len(keep) > 0
        assert set(load_cam_npz(tmp_path / meta["npz"])) == set(meta["classes"])


def test_every_exported_file_is_0644_under_umask_022(module, dm, tmp_path):
    # issue 19 item 13: mkstemp's 0600 used to reach cams.json and the .npz files; atomic_path fixes it
    old = os.umask(0o022)
    try:
        export_cams(module, dm.dataloader("test", limit=2), tmp_path / "out", progress=False)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"cams.json", "index.html", "contact_sheet.png"}
    assert any(p.suffix == ".npz" for p in files)
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o644}, modes


def test_hostile_class_names_round_trip_through_export_and_evaluate(synthetic_voc_root, tmp_path):
    # issue 19 item 14: a class named '../../evil' was an .npz member name with path traversal
    import shutil
    import zipfile

    from wsl.jobs.evaluate import evaluate_cams

    voc = tmp_path / "voc"
    shutil.copytree(synthetic_voc_root, voc)
    evil = "../../evil"
    names = (voc / "classes.txt").read_text().split()
    renamed = [evil if n == names[0] else n for n in names]
    (voc / "classes.txt").write_text("".join(f"{n}\n" for n in renamed))
    for xml in (voc / "Annotations").glob("*.xml"):
        xml.write_text(xml.read_text().replace(f"<name>{names[0]}</name>", f"<name>{evil}</name>"))
    dm = WSLDataModule(data=f"voc:{voc}", image_size=64, batch_size=2, num_workers=0)
    assert dm.class_names == renamed
    before = {p for p in tmp_path.rglob("*")}
    out = tmp_path / "a" / "b" / "out"
    export_cams(make_module(dm), dm.dataloader("test"), out, classes="all", progress=False)
    written = {p for p in tmp_path.rglob("*") if p not in before}
    assert all(p == out or out in p.parents or p in out.parents for p in written), sorted(written)
    manifest = json.loads((out / "cams.json").read_text())
    keys = manifest["npz_keys"]
    assert keys[evil] == "evil" and all(keys[n] == n for n in renamed[1:])
    for meta in manifest["images"]:
        with zipfile.ZipFile(out / meta["npz"]) as archive:
            members = archive.namelist()
        assert sorted(members) == sorted(f"{keys[n]}.npy" for n in renamed)
        assert all("/" not in m and "\\" not in m and not m.startswith(".") for m in members)
        assert meta["classes"] == renamed and evil in meta["cam_range"]
    payload = evaluate_cams(out / "cams", data=f"voc:{voc}", split="test", progress=False)
    assert payload["results"]["images_scored"] == 4.0
    assert payload["results"]["maxboxacc"] >= 0.0


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_failed_re_export_leaves_the_old_export_intact(module, dm, tmp_path, monkeypatch):
    # issue 19 item 7: files are written into OUT.partial-<pid> and swapped in at the end
    from wsl.jobs import export as export_module

    out = tmp_path / "out"
    export_cams(module, dm.dataloader("test", limit=2), out, classes="all", progress=False)
    (out / "notes.txt").write_text("mine")
    before = _tree(out)
    calls = []
    original = export_module._Export.add_image

    def fail_on_the_third_image(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(export_module._Export, "add_image", fail_on_the_third_image)
    with pytest.raises(RuntimeError, match="killed"):
        export_cams(module, dm.dataloader("test"), out, classes="present", progress=False)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


def test_a_re_export_replaces_the_old_files_and_keeps_foreign_ones(module, dm, tmp_path):
    out = tmp_path / "out"
    export_cams(module, dm.dataloader("test"), out, classes="all", progress=False)
    (out / "notes.txt").write_text("mine")
    summary = export_cams(module, dm.dataloader("test", limit=1), out, classes="top1", progress=False)
    assert summary["out_dir"] == str(out) and summary["index"] == str(out / "index.html")
    assert summary["manifest"] == str(out / "cams.json") and Path(summary["contact_sheet"]).is_file()
    assert len(list((out / "cams").iterdir())) == 1 and len(list((out / "overlays").iterdir())) == 1
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_staging_folders_of_a_killed_export_are_cleaned_by_the_next_run(module, dm, tmp_path):
    out = tmp_path / "out"
    pid = _dead_pid()
    partial = tmp_path / f"out.partial-{pid}"
    (partial / "cams").mkdir(parents=True)
    (partial / "cams" / "half.npz").write_bytes(b"PK")
    export_cams(module, dm.dataloader("test", limit=1), out, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    # killed between the two renames: the old export, renamed away, is put back
    before = _tree(out)
    out.rename(tmp_path / f"out.old-{pid}")
    (tmp_path / f"out.partial-{pid}").mkdir()
    assert CamFolder_check(out) == out
    assert _tree(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def CamFolder_check(out: Path) -> Path:
    from wsl.jobs.outdir import prepare_out_dir

    return prepare_out_dir(out)


def test_a_folder_that_is_not_an_export_is_not_replaced(module, dm, tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="is not empty and holds no earlier export"):
        export_cams(module, dm.dataloader("test", limit=1), tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]


def test_export_into_the_current_folder_is_refused(module, dm, tmp_path, monkeypatch):
    # the swap would rename the process's working folder away and delete it
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    for out in (".", "..", str(tmp_path / "here")):
        with pytest.raises(ValueError, match="is the current folder or holds it"):
            export_cams(module, dm.dataloader("test", limit=1), out, progress=False)
    summary = export_cams(module, dm.dataloader("test", limit=1), "out", progress=False)
    assert summary["out_dir"] == "out" and (tmp_path / "here" / "out" / "cams.json").is_file()
    assert sorted(p.name for p in (tmp_path / "here").iterdir()) == ["out"]
