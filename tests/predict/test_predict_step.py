"""WSLModule.predict_step: trainer.predict gives the scores and class maps of forward."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from wsl.cam import CamBatch
from wsl.data import WSLDataModule
from wsl.lit import WSLModule


def test_trainer_predict_returns_scores_and_class_maps(synthetic_coco_root):
    dm = WSLDataModule(f"coco:{synthetic_coco_root}", image_size=64, batch_size=3, num_workers=0)
    module = WSLModule(num_classes=len(dm.class_names), class_names=dm.class_names, pool="gap").eval()
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    loader = dm.dataloader("test")
    outputs = trainer.predict(module, loader)
    assert outputs is not None and len(outputs) == 2
    images = torch.cat([batch["image"] for batch in loader])
    with torch.no_grad():
        scores, class_maps = module(images)
    torch.testing.assert_close(torch.cat([o["scores"] for o in outputs]), scores)
    torch.testing.assert_close(torch.cat([o["class_maps"] for o in outputs]), class_maps)
    assert sum(len(o["image_id"]) for o in outputs) == 4
    cams = CamBatch.from_output(outputs[0]["scores"], outputs[0]["class_maps"], outputs[0], "top1")
    assert len(cams) == 3 and cams.cams[0].shape == (64, 64)


def test_a_plain_image_tensor_is_a_batch_too():
    module = WSLModule(num_classes=2, pool="gap").eval()
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    [out] = trainer.predict(module, DataLoader(torch.zeros(2, 3, 64, 64), batch_size=2))
    assert set(out) == {"scores", "class_maps"} and out["scores"].shape == (2, 2)
