"""tools/evaluate.py: a checkpoint reproduces the training-time test scores; saved-CAM folders are scored."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tools.evaluate import evaluate, main
from wsl.cli import train
from wsl.data import WSLDataModule


@pytest.fixture(scope="module")
def trained(synthetic_voc_root, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    results = train([
        "--dataset", f"voc:{synthetic_voc_root}", "--data.image_size", "64", "--data.batch_size", "4",
        "--data.num_workers", "0", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
        "--trainer.enable_progress_bar", "false", "--run_dir", str(run_dir), "--pool", "gap",
        "--trainer.precision", "32-true",
    ])  # fmt: skip
    return results


def base_args(root):
    return ["--data", f"voc:{root}", "--image-size", "64", "--num-workers", "0", "--batch-size", "3"]


def test_checkpoint_evaluation_reproduces_the_test_scores(trained, synthetic_voc_root, tmp_path):
    out = tmp_path / "eval.json"
    payload = evaluate([*base_args(synthetic_voc_root), "--ckpt", trained["checkpoint"], "--out", str(out)])
    assert payload["results"] == pytest.approx({k: v for k, v in trained["test"].items() if k != "loss"})
    assert json.loads(out.read_text())["results"] == pytest.approx(payload["results"])


def write_mask_cams(root, cam_dir, split="test", suffix=".npz"):
    """CAMs equal to the ground-truth masks of each class: a perfect localizer."""
    data = WSLDataModule(f"voc:{root}", image_size=64, batch_size=4, num_workers=0)
    cam_dir.mkdir(exist_ok=True)
    for item in data.dataset(split):
        maps = {}
        for c in np.unique(item["box_labels"].numpy()):
            maps[data.class_names[c]] = (
                item["masks"][item["box_labels"] == int(c)].any(0).numpy().astype("f4")
            )
        if suffix == ".npz":
            np.savez_compressed(cam_dir / f"{item['image_id']}.npz", **maps)
        else:
            np.save(cam_dir / f"{item['image_id']}.npy", sum(maps.values()))
    return data


def test_perfect_saved_cams_score_perfectly(synthetic_voc_root, tmp_path):
    cam_dir = tmp_path / "cams"
    write_mask_cams(synthetic_voc_root, cam_dir)
    results = evaluate([*base_args(synthetic_voc_root), "--cams", str(cam_dir)])["results"]
    assert results["pointing_game"] == pytest.approx(1.0)
    assert results["maxboxacc"] == pytest.approx(1.0)
    assert results["pxap"] == pytest.approx(1.0)
    assert "map" not in results and results["images_scored"] == 4


def test_one_npy_map_per_image_serves_every_class(synthetic_voc_root, tmp_path):
    """wsolevaluation's layout: one map per image; here the union of all objects' masks."""
    cam_dir = tmp_path / "cams"
    write_mask_cams(synthetic_voc_root, cam_dir, suffix=".npy")
    results = evaluate([*base_args(synthetic_voc_root), "--cams", str(cam_dir)])["results"]
    assert results["images_scored"] == 4
    assert 0.0 < results["maxboxacc_v2"] <= 1.0 and 0.0 < results["pointing_game"] <= 1.0


def test_missing_cam_files_are_an_error_or_skipped(synthetic_voc_root, tmp_path, capsys):
    cam_dir = tmp_path / "cams"
    write_mask_cams(synthetic_voc_root, cam_dir)
    victim = sorted(cam_dir.glob("*.npz"))[0]
    victim.unlink()
    assert main([*base_args(synthetic_voc_root), "--cams", str(cam_dir)]) == 2
    err = capsys.readouterr().err
    assert "1 of 4 images have no CAM file" in err and victim.stem in err and "--skip-missing" in err
    results = evaluate([*base_args(synthetic_voc_root), "--cams", str(cam_dir), "--skip-missing"])["results"]
    assert results["images_scored"] == 3


def test_cam_larger_than_the_image_names_the_file(synthetic_voc_root, tmp_path, capsys):
    cam_dir = tmp_path / "cams"
    write_mask_cams(synthetic_voc_root, cam_dir, suffix=".npy")
    victim = sorted(cam_dir.glob("*.npy"))[0]
    np.save(victim, np.zeros((500, 500), np.float32))
    assert main([*base_args(synthetic_voc_root), "--cams", str(cam_dir)]) == 2
    err = capsys.readouterr().err
    assert victim.name in err and "larger than the image" in err


def test_nan_cams_are_scored_as_zero_maps_with_a_warning(synthetic_voc_root, tmp_path, caplog):
    cam_dir = tmp_path / "cams"
    write_mask_cams(synthetic_voc_root, cam_dir, suffix=".npy")
    for path in cam_dir.glob("*.npy"):
        np.save(path, np.full((8, 8), np.nan, np.float32))
    results = evaluate([*base_args(synthetic_voc_root), "--cams", str(cam_dir)])["results"]
    assert "hold NaN or Inf" in caplog.text
    assert results["maxboxacc"] < 1.0


def test_checkpoint_on_coco_layout_and_missing_root(trained, synthetic_coco_root, tmp_path, capsys):
    args = ["--data", f"coco:{synthetic_coco_root}", "--image-size", "64", "--num-workers", "0"]
    assert main([*args, "--ckpt", trained["checkpoint"], "--out", str(tmp_path / "x.json")]) == 0
    voc = ["--data", "voc:/nonexistent", "--image-size", "64", "--num-workers", "0"]
    assert main([*voc, "--ckpt", trained["checkpoint"]]) == 2
    assert "error:" in capsys.readouterr().err


def test_checkpoint_trained_on_other_classes_is_refused(trained, tmp_path, capsys):
    root = tmp_path / "voc"
    make = ["--format", "voc", "--out", str(root), "--num-train", "2", "--num-val", "1", "--num-test", "2"]
    from tools.make_synthetic import main as make_synthetic

    assert make_synthetic([*make, "--image-size", "64", "--preset", "hard"]) in (0, None)
    args = ["--data", f"voc:{root}", "--image-size", "64", "--num-workers", "0"]
    assert main([*args, "--ckpt", trained["checkpoint"]]) == 2
    assert "trained on classes" in capsys.readouterr().err


def test_pointing_difficult_subset_is_reported(synthetic_voc_root, tmp_path, capsys):
    cam_dir = tmp_path / "cams"
    data = write_mask_cams(synthetic_voc_root, cam_dir)
    flags = tmp_path / "difficult.txt"
    first = data.dataset("test")[0]["image_id"]
    flags.write_text(first + "\t" + "\t".join(["1"] * data.num_classes) + "\n")
    args = [*base_args(synthetic_voc_root), "--cams", str(cam_dir), "--pointing-difficult", str(flags)]
    results = evaluate(args)["results"]
    assert results["pointing_game_difficult"] == pytest.approx(1.0)
    assert "pointing_game_difficult" in capsys.readouterr().out
    flags.write_text(first + "\t1\n")
    assert main(args) == 2
    assert "expected an image name and" in capsys.readouterr().err


def test_a_broken_cam_file_read_ahead_is_reported_with_its_name(synthetic_voc_root, tmp_path, capsys):
    """Files are read by a background thread; its errors still reach the user as one error line."""
    cam_dir = tmp_path / "cams"
    write_mask_cams(synthetic_voc_root, cam_dir)
    victim = sorted(cam_dir.glob("*.npz"))[-1]
    victim.write_bytes(b"not a zip")
    assert main([*base_args(synthetic_voc_root), "--cams", str(cam_dir)]) == 2
    err = capsys.readouterr().err
    assert victim.name in err and "cannot be read as a .npz of maps" in err


def test_skip_bad_is_a_flag_and_bad_data_errors_name_it(synthetic_voc_root, tmp_path, capsys):
    import shutil

    root = tmp_path / "voc"
    shutil.copytree(synthetic_voc_root, root)
    cam_dir = tmp_path / "cams"
    write_mask_cams(root, cam_dir)
    # --cams reads the annotations only (an image whose XML declares its size is not opened: issue 35
    # item 20), so the bad sample is a broken annotation
    victim = sorted((root / "Annotations").iterdir())[0]
    victim.write_bytes(b"broken")
    args = ["--data", f"voc:{root}", "--image-size", "64", "--num-workers", "0", "--cams", str(cam_dir)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert victim.name in err and "--skip-bad" in err and "skip_bad=True" not in err
    assert main([*args, "--skip-bad", "--skip-missing"]) == 0


def test_saved_cams_are_found_through_cams_json_when_an_id_is_not_a_file_name(synthetic_voc_root, tmp_path):
    """Issue 19 item 8: an export names files by safe stems; evaluate --cams must follow cams.json."""
    import json
    import shutil

    root = tmp_path / "voc"
    shutil.copytree(synthetic_voc_root, root)
    split = root / "ImageSets" / "Main" / "test.txt"
    ids = split.read_text().split()
    odd = "my photo (1)"
    for sub, suffix in (("JPEGImages", ".jpg"), ("Annotations", ".xml"), ("SegmentationObject", ".png"),
                        ("SegmentationClass", ".png")):  # fmt: skip
        source = root / sub / f"{ids[0]}{suffix}"
        if source.exists():
            source.rename(root / sub / f"{odd}{suffix}")
    split.write_text("\n".join([odd, *ids[1:]]) + "\n")
    cam_dir = tmp_path / "export" / "cams"
    cam_dir.mkdir(parents=True)
    write_mask_cams(root, cam_dir)
    (cam_dir / f"{odd}.npz").rename(cam_dir / "my_photo_1.npz")
    images = [{"image_id": i, "npz": f"cams/{'my_photo_1' if i == odd else i}.npz"} for i in [odd, *ids[1:]]]
    (tmp_path / "export" / "cams.json").write_text(json.dumps({"format": "wsl-cams", "images": images}))
    results = evaluate(["--data", f"voc:{root}", "--num-workers", "0", "--cams", str(cam_dir)])["results"]
    assert results["images_scored"] == 4 and results["maxboxacc"] == pytest.approx(1.0)
