"""wsl.jobs.outdir: the one checked, locked and staged output folder of every folder writer (issue 35
items 1, 2, 3, 9, 21)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wsl.jobs import outdir
from wsl.jobs.outdir import lock_out_dir, out_path, prepare_out_dir, staged_output
from wsl.jobs.predict.folder import predict_to_folder
from wsl.jobs.scoremaps import export_scoremaps
from wsl.lit import WSLModule

ROOT = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def holder(tmp_path):
    """A second process holding the lock of ``tmp_path/out`` until the test ends; yields its pid."""
    code = (
        "import sys, time\n"
        "from wsl.jobs.outdir import lock_out_dir, out_path\n"
        "with lock_out_dir(out_path(sys.argv[1])):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    yield child.pid
    child.kill()
    child.wait()


def test_a_second_job_into_a_locked_folder_is_refused_naming_the_folder_and_pid(tmp_path, holder):
    # item 2: two exports into one --out both exited 0 and one was silently lost
    with (
        pytest.raises(ValueError, match=rf"out_dir '.*out' is in use by another job \(pid {holder},") as info,
        staged_output(tmp_path / "out"),
    ):
        pass
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["out.lock"]


def test_the_lock_is_free_again_after_its_holder_is_killed(tmp_path, holder):
    os.kill(holder, 9)
    os.waitpid(holder, 0)
    with staged_output(tmp_path / "out") as stage:
        (stage / "cams.json").write_text('{"format": "wsl-cams", "images": []}')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the lock file is removed


def test_the_lock_is_reentrant_in_one_process_and_removed_at_the_end(tmp_path):
    out = out_path(tmp_path / "out")
    with lock_out_dir(out), staged_output(out) as stage:
        assert (tmp_path / "out.lock").is_file() and stage.name.startswith("out.partial-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_symlinked_out_is_written_through_and_kept(tmp_path):
    # item 3: the link was replaced by a local folder, its target kept the stale files, OUT.old-<pid> dangled
    target = tmp_path / "store" / "maps"
    target.mkdir(parents=True)
    (target / "cams.json").write_text('{"format": "wsl-cams", "images": []}')
    (target / "cams").mkdir()
    (target / "cams" / "stale.npz").write_bytes(b"old")
    (target / "notes.txt").write_text("mine")
    link = tmp_path / "out"
    link.symlink_to(target, target_is_directory=True)
    with staged_output(link) as stage:
        (stage / "cams").mkdir()
        (stage / "cams" / "new.npz").write_bytes(b"new")
        (stage / "cams.json").write_text('{"format": "wsl-cams", "images": []}')
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert sorted(p.name for p in (target / "cams").iterdir()) == ["new.npz"]
    assert (target / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "store"]
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["maps"]


def test_a_read_only_out_is_refused_before_any_work(tmp_path, monkeypatch):
    # item 21: tracebacks after the model was loaded (checked with os.access: the tests may run as root)
    out = tmp_path / "ro"
    out.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != out and real(p, mode, **kw))
    with pytest.raises(ValueError, match=r"out_dir '.*ro' is not writable.*pass a writable folder"):
        prepare_out_dir(out)
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != tmp_path and real(p, mode, **kw))
    with pytest.raises(ValueError, match=r"the folder it is in .* is not writable"):
        prepare_out_dir(out)


def test_a_read_only_out_is_one_error_line_of_predict(tmp_path, monkeypatch, capsys):
    from tools.predict import main

    real = os.access
    out = tmp_path / "ro"
    out.mkdir()
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != out and real(p, mode, **kw))
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((20, 20, 3), 9, np.uint8)).save(photo)
    assert main(["--ckpt", str(tmp_path / "missing.ckpt"), "--out", str(out), "--images", str(photo)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --out") and "is not writable" in err[0]


class _Maps(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(len(images), 2), images[:, :2, :4, :4].float() + 1


def _batches(ids: list[str], value: float) -> list[dict]:
    return [
        {
            "image": torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(int(value) * 100 + k)),
            "image_id": [image_id],
            "orig_size": torch.tensor([[10, 12]]),
            "labels": torch.tensor([[1.0, 0.0]]),
        }
        for k, image_id in enumerate(ids)
    ]


def test_an_interrupted_score_map_export_leaves_the_earlier_maps_whole(tmp_path, monkeypatch):
    # item 1: a re-export killed midway left new and old maps mixed, scored without a word
    ids = [f"c/{k}.jpg" for k in range(4)]
    out = tmp_path / "maps"
    export_scoremaps(_Maps(), _batches(ids, 0.0), out, progress=False)
    (out / "notes.txt").write_text("mine")
    before = _tree(out)
    from wsl.jobs import scoremaps

    written = []
    original = scoremaps.write_scoremap

    def killed_after_two(path, cam):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(path)
        original(path, cam)

    monkeypatch.setattr(scoremaps, "write_scoremap", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        export_scoremaps(_Maps(), _batches(ids, 5.0), out, progress=False)
    assert _tree(out) == before  # not two new maps beside two old ones
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps"]
    monkeypatch.setattr(scoremaps, "write_scoremap", original)
    export_scoremaps(_Maps(), _batches(ids[:1], 5.0), out, progress=False)  # a complete one replaces all
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["c/0.jpg.npy", "cams.json", "notes.txt"]


def test_a_score_map_folder_written_before_the_manifest_is_replaced(tmp_path):
    out = tmp_path / "maps"
    (out / "c").mkdir(parents=True)
    np.save(out / "c" / "old.jpg.npy", np.zeros((2, 2)))
    export_scoremaps(_Maps(), _batches(["c/new.jpg"], 0.0), out, progress=False)
    assert sorted(p.name for p in (out / "c").iterdir()) == ["new.jpg.npy"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "photo.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="is not empty and holds no earlier export"):
        export_scoremaps(_Maps(), _batches(["c/new.jpg"], 0.0), tmp_path / "other", progress=False)


@pytest.fixture(scope="module")
def tiny_module() -> WSLModule:
    torch.manual_seed(0)
    return WSLModule(num_classes=2, class_names=["a", "b"], pool="gap").eval()


def _photos(folder: Path, count: int) -> list[str]:
    folder.mkdir(exist_ok=True)
    paths = []
    for k in range(count):
        path = folder / f"p{k}.png"
        Image.fromarray(np.full((24, 30, 3), 40 * k, np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _predict(module: WSLModule, photos: list[str], out: Path) -> dict:
    return predict_to_folder(
        module, photos, out, top_k=1, threshold=0.5, image_size=32, device="cpu", progress=False
    )


def test_a_rerun_of_predict_leaves_no_orphans(tmp_path, tiny_module):
    # item 9: a rerun into the same folder kept the files of the earlier, larger run
    out = tmp_path / "pred"
    _predict(tiny_module, _photos(tmp_path / "many", 4), out)
    assert len(list((out / "cams").iterdir())) == 4
    summary = _predict(tiny_module, _photos(tmp_path / "few", 1), out)
    assert sorted(p.name for p in (out / "cams").iterdir()) == ["p0.npz"]
    assert len(list((out / "overlays").iterdir())) == 1
    assert summary["out_dir"] == str(out) and Path(summary["index"]).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["few", "many", "pred"]


def test_a_killed_predict_leaves_the_earlier_folder_whole(tmp_path, tiny_module, monkeypatch):
    from wsl.jobs.predict import folder as folder_module

    out = tmp_path / "pred"
    photos = _photos(tmp_path / "in", 3)
    _predict(tiny_module, photos[:1], out)
    before = _tree(out)
    original = folder_module._PredictionFolder.add
    calls = []

    def killed_on_the_second(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(folder_module._PredictionFolder, "add", killed_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        _predict(tiny_module, photos, out)
    assert _tree(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["in", "pred"]


def test_layouts_name_what_they_own():
    assert set(outdir.LAYOUTS) == {"wsl", "predict", "wsolevaluation"}
    assert outdir.LAYOUTS["predict"].owns(Path("x/detections.json"))
    assert not outdir.LAYOUTS["wsl"].owns(Path("x/detections.json"))
    assert not outdir.LAYOUTS["wsolevaluation"].owns(Path("x/notes.txt"))


def test_export_cams_into_a_locked_out_is_one_error_line_before_the_model_is_loaded(tmp_path, holder, capsys):
    from tools.export_cams import main

    assert main(["--ckpt", str(tmp_path / "missing.ckpt"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and err[0].startswith("error: --out '")
        and f"in use by another job (pid {holder}," in err[0]
    )
