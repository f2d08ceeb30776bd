"""CAMLogger inside a real (tiny) Lightning run."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from wsl.viz import CAMLogger
from wsl.viz.callback import log_sheet

NUM_CLASSES, SIZE = 3, 32


class DictDataset(Dataset):
    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.randn(n, 3, SIZE, SIZE, generator=g)
        self.labels = torch.nn.functional.one_hot(torch.arange(n) % NUM_CLASSES, NUM_CLASSES).float()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "labels": self.labels[i], "orig_size": torch.tensor([48, 64])}


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, NUM_CLASSES, 3, stride=4, padding=1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        class_maps = self.conv(images)
        return class_maps.amax(dim=(2, 3)), class_maps


class TinyModule(pl.LightningModule):
    def __init__(self, class_names: list[str] | None = None) -> None:
        super().__init__()
        self.net = TinyNet()
        if class_names is not None:
            self.class_names = class_names

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        scores, _ = self.net(batch["image"])
        return nn.functional.binary_cross_entropy_with_logits(scores, batch["labels"])

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        scores, _ = self.net(batch["image"])
        self.log("val_loss", nn.functional.binary_cross_entropy_with_logits(scores, batch["labels"]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def run(
    tmp_path: Path, callback: CAMLogger, val_size: int, logger: object = False, **module_kw
) -> pl.Trainer:
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_train_batches=2,
        limit_val_batches=1,
        num_sanity_val_steps=1,
        log_every_n_steps=1,
        default_root_dir=tmp_path,
        callbacks=[callback],
    )
    trainer.fit(
        TinyModule(**module_kw),
        DataLoader(DictDataset(8), batch_size=4),
        DataLoader(DictDataset(val_size), batch_size=4),
    )
    return trainer


def test_writes_a_sheet_per_epoch_without_logger(tmp_path: Path) -> None:
    callback = CAMLogger(every_n_epochs=1, num_images=8)
    run(tmp_path, callback, val_size=6, class_names=["cat", "dog", "bird"])
    files = sorted((tmp_path / "cams").glob("*.png"))
    assert [f.name for f in files] == ["epoch_000.png", "epoch_001.png"]
    assert callback.num_cached == 4  # one val batch of 4 < num_images: no crash
    sheet = cv2.imread(str(files[-1]))
    # 4 tiles of the original 48x64 aspect, zoomed to 96x128 for legible captions, 4 px padding
    assert sheet is not None and sheet.shape[1] == 4 * 128 + 5 * 4
    tile = sheet[4 : 4 + 96, 4 : 4 + 128]
    assert (tile == 255).all(axis=2).mean() < 0.05  # filled by the overlay, not letterboxed
    assert (sheet[4 + 96 : 4 + 96 + 12, 4 : 4 + 128] < 128).any()  # caption text under the tile


def test_every_n_epochs_and_csv_logger(tmp_path: Path) -> None:
    logger = pl.loggers.CSVLogger(tmp_path, name="csv")
    callback = CAMLogger(every_n_epochs=2, num_images=2)
    trainer = run(tmp_path, callback, val_size=3, logger=logger)
    files = sorted((Path(trainer.log_dir) / "cams").glob("*.png"))
    assert [f.name for f in files] == ["epoch_001.png"]
    assert callback.num_cached == 2


class _QuietCSV(pl.loggers.CSVLogger):
    """A logger that records nothing on disk (a base for fake image loggers)."""

    def log_metrics(self, metrics, step=None) -> None:
        pass

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def save(self) -> None:
        pass


def test_tensorboard_like_logger_gets_the_image(tmp_path: Path) -> None:
    seen = []

    class Experiment:
        def add_image(self, tag: str, image, global_step: int, dataformats: str) -> None:
            seen.append((tag, image.shape, dataformats))

    class FakeTB(_QuietCSV):
        @property
        def experiment(self) -> Experiment:  # type: ignore[override]
            return Experiment()

    out = tmp_path / "explicit"
    run(tmp_path, CAMLogger(num_images=3, out_dir=out), val_size=5, logger=FakeTB(tmp_path))
    assert sorted(p.name for p in out.glob("*.png")) == ["epoch_000.png", "epoch_001.png"]
    assert len(seen) == 2 and seen[0][0] == "cams" and seen[0][2] == "HWC" and seen[0][1][2] == 3


def test_wandb_like_logger_gets_the_image_through_log_image(tmp_path: Path) -> None:
    seen = []

    class FakeWandb(_QuietCSV):
        def log_image(self, key: str, images: list, step: int | None = None, **kwargs) -> None:
            seen.append((key, [image.shape for image in images], step))

    trainer = run(
        tmp_path, CAMLogger(num_images=3, out_dir=tmp_path / "x"), val_size=5, logger=FakeWandb(tmp_path)
    )
    assert len(seen) == 2 and all(key == "cams" and len(shapes) == 1 for key, shapes, _ in seen)
    sheet = cv2.imread(str(tmp_path / "x" / "epoch_001.png"))[:, :, ::-1]
    assert seen[-1][1][0] == sheet.shape and seen[-1][2] == trainer.global_step


def test_mlflow_like_logger_gets_the_image_as_an_artifact(tmp_path: Path) -> None:
    seen = []

    class Client:
        def log_image(self, run_id: str, image, artifact_file: str) -> None:
            seen.append((run_id, image.shape, artifact_file))

    class FakeMLflow(_QuietCSV):
        @property
        def experiment(self) -> Client:  # type: ignore[override]
            return Client()

        @property
        def run_id(self) -> str:
            return "run-1"

    run(tmp_path, CAMLogger(num_images=2, out_dir=tmp_path / "x"), val_size=5, logger=FakeMLflow(tmp_path))
    assert [(r, f) for r, _, f in seen] == [("run-1", "cams/epoch_000.png"), ("run-1", "cams/epoch_001.png")]
    assert seen[0][1][2] == 3


def test_loggers_without_images_are_skipped(tmp_path: Path) -> None:
    sheet = np.zeros((4, 4, 3), np.uint8)
    assert not log_sheet(pl.loggers.CSVLogger(tmp_path), sheet, 0, "cams/epoch_000.png")
    assert not log_sheet(object(), sheet, 0, "cams/epoch_000.png")


def test_tiles_are_the_pipeline_top1_cams_on_the_denormalized_images(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsl.cam import CamBatch
    from wsl.data.transforms import denormalize
    from wsl.viz import callback as callback_mod
    from wsl.viz import overlay_cam

    tiles = []
    monkeypatch.setattr(callback_mod, "contact_sheet", lambda found, **kwargs: tiles.extend(found))
    callback, module, data = CAMLogger(num_images=4), TinyModule(), DictDataset(4)
    callback.on_validation_batch_end(None, module, None, {"image": data.images}, 0)  # type: ignore[arg-type]
    callback.make_sheet(module)
    with torch.no_grad():
        scores, class_maps = module.net(data.images)
    batch = {"image_id": [str(i) for i in range(4)]}
    cams = CamBatch.from_output(scores, class_maps, batch, policy="top1", sizes=[(SIZE, SIZE)] * 4)
    pictures = denormalize(data.images)
    assert len(tiles) == 4
    for i, tile in enumerate(tiles):  # no orig_size: tiles at the network input size
        np.testing.assert_array_equal(tile, overlay_cam(pictures[i], cams.cams[i].numpy(), alpha=0.5))


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="every_n_epochs must be an int >= 1"):
        CAMLogger(every_n_epochs=0)
    with pytest.raises(ValueError, match="num_images must be an int >= 1; got 2.5"):
        CAMLogger(num_images=2.5)  # type: ignore[arg-type]
