"""Running a trained model, or a folder of saved CAMs, over a dataset split and scoring it.

Saved-CAM folders (``tools/evaluate.py --cams DIR``) hold, per image id, either
- ``<image_id>.npz`` with one 2-D array per class, keyed by class name (the format written by
  ``tools/export_cams.py``), or
- ``<image_id>.npy``, one 2-D map used for every ground-truth class of that image (single-label data,
  the wsolevaluation layout).
Maps may be at any resolution up to the image size; they are bilinearly upsampled to the image size.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from wsl.evaluation import LocalizationEvaluator
from wsl.lit import WSLModule

__all__ = ["evaluate_model", "evaluate_cam_folder", "CamFolder"]

log = logging.getLogger(__name__)


def _to_device(batch: dict, device: torch.device) -> torch.Tensor:
    return batch["image"].to(device, non_blocking=True)


@torch.no_grad()
def evaluate_model(
    module: WSLModule, loader: DataLoader, progress: bool = True, pointing_subset: dict | None = None
) -> dict[str, float]:
    """Classification and localization scores of ``module`` on the split of ``loader``.

    Args:
        module: a trained :class:`~wsl.lit.WSLModule` (see :func:`wsl.checkpoint.load_module`).
        loader: an evaluation loader (with annotations) of a :class:`~wsl.data.WSLDataModule`.
        progress: show a progress bar.
        pointing_subset: flags of :func:`wsl.evaluation.read_pointing_subset`, to also report
            ``pointing_game_difficult``.

    Returns:
        The fractions of :meth:`~wsl.evaluation.LocalizationEvaluator.compute`.
    """
    device = next(module.parameters()).device
    evaluator = LocalizationEvaluator(
        module.hparams.num_classes,
        module.hparams.single_label,
        module.hparams.cam_curve_interval,
        pointing_subset=pointing_subset,
    ).to(device)
    module.eval()
    for batch in tqdm(loader, desc="evaluate", unit="batch", disable=not progress):
        scores, class_maps = module(_to_device(batch, device))
        evaluator.update(scores, class_maps, batch)
    return evaluator.compute()


class CamFolder:
    """Read-only view of a folder of saved CAMs (see the module docstring for the layout).

    Args:
        root: the folder.
        class_names: the dataset's classes, to map ``.npz`` keys to class indices.
    """

    def __init__(self, root: str | Path, class_names: list[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"--cams {str(self.root)!r} is not a folder; pass the folder of .npy/.npz CAMs")
        self.class_names = list(class_names)
        self.files = {p.stem: p for p in sorted(self.root.iterdir()) if p.suffix in (".npy", ".npz")}
        if not self.files:
            raise ValueError(
                f"--cams {str(self.root)!r} holds no .npy or .npz file; one per image id is expected"
            )
        self.non_finite: list[str] = []

    def check_ids(self, image_ids: list[str], skip_missing: bool = False) -> list[str]:
        """Compare the folder with the split: missing ids raise (or are returned with ``skip_missing``),
        extra files are reported in a warning."""
        wanted = set(image_ids)
        missing = [i for i in image_ids if i not in self.files]
        extra = sorted(set(self.files) - wanted)
        if extra:
            log.warning("%d CAM files match no image of the split (ignored), e.g. %s", len(extra), extra[:3])
        if missing and not skip_missing:
            raise ValueError(
                f"{len(missing)} of {len(image_ids)} images have no CAM file in {str(self.root)!r} "
                f"(e.g. {missing[:3]}); expected <image_id>.npz or <image_id>.npy for every image, "
                "or pass --skip-missing to score only the images that have one"
            )
        return missing

    def _check(self, path: Path, name: str, cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        if cam.ndim != 2:
            raise ValueError(f"{path}: map {name!r} has shape {cam.shape}; expected a 2-D (H, W) map")
        if cam.shape[0] > size[0] or cam.shape[1] > size[1]:
            raise ValueError(
                f"{path}: map {name!r} is {cam.shape}, larger than the image {size}; save CAMs at the image "
                "size or at the feature-map size"
            )
        if not np.isfinite(cam).all():
            self.non_finite.append(f"{path.name}:{name}")
        return cam.astype(np.float32)

    def maps(self, image_id: str, classes: list[int], size: tuple[int, int]) -> torch.Tensor:
        """The maps (len(classes), h, w) of ``image_id`` for ``classes``."""
        path = self.files[image_id]
        if path.suffix == ".npy":
            cam = self._check(path, "map", np.load(path, allow_pickle=False), size)
            return torch.from_numpy(cam).expand(len(classes), *cam.shape)
        with np.load(path, allow_pickle=False) as archive:
            out = []
            for c in classes:
                name = self.class_names[c]
                if name not in archive.files:
                    raise ValueError(
                        f"{path}: no map for class {name!r} (present in the ground truth); keys found: "
                        f"{sorted(archive.files)}"
                    )
                out.append(torch.from_numpy(self._check(path, name, archive[name], size)))
        shapes = {tuple(m.shape) for m in out}
        if len(shapes) > 1:
            raise ValueError(f"{path}: the class maps have different shapes {sorted(shapes)}; save one size")
        return torch.stack(out)


def _image_ids(dataset) -> list[str]:
    """Image ids of a WSLDataset (or a Subset of one) without decoding any image."""
    if isinstance(dataset, Subset):
        return [_image_ids(dataset.dataset)[i] for i in dataset.indices]
    return [record.image_id for record in dataset.records]


def _folder_maps(folder: CamFolder, batch: dict):
    sizes = [tuple(int(s) for s in size) for size in batch["orig_size"]]
    return lambda i, classes: folder.maps(batch["image_id"][i], classes, sizes[i])


def evaluate_cam_folder(
    cam_dir: str | Path,
    loader: DataLoader,
    class_names: list[str],
    single_label: bool = False,
    cam_curve_interval: float = 0.01,
    skip_missing: bool = False,
    progress: bool = True,
    pointing_subset: dict | None = None,
) -> dict[str, float]:
    """Localization scores of CAMs saved by any method against a split's ground truth.

    This is the drop-in for wsolevaluation: same box and mask rules, same pointing game as TorchRay.
    Classification scores are not available from CAMs alone and are not reported.

    Args:
        cam_dir: the folder of saved CAMs (layout in the module docstring).
        loader: an evaluation loader (with annotations) over the split.
        class_names: the dataset's classes.
        single_label: single-label data (no Top-1 Loc: the predicted class is unknown).
        cam_curve_interval: threshold grid step.
        skip_missing: score only the images that have a CAM file instead of raising.
        progress: show a progress bar.
        pointing_subset: flags of :func:`wsl.evaluation.read_pointing_subset`, to also report
            ``pointing_game_difficult``.
    """
    folder = CamFolder(cam_dir, class_names)
    ids = _image_ids(loader.dataset)
    missing = set(folder.check_ids(ids, skip_missing))
    evaluator = LocalizationEvaluator(
        len(class_names), single_label, cam_curve_interval, pointing_subset=pointing_subset
    )
    for batch in tqdm(loader, desc="evaluate CAMs", unit="batch", disable=not progress):
        keep = [i for i, image_id in enumerate(batch["image_id"]) if image_id not in missing]
        if not keep:
            continue
        sub = {
            k: (v[keep] if isinstance(v, torch.Tensor) else [v[i] for i in keep]) for k, v in batch.items()
        }
        evaluator.update_localization(sub, _folder_maps(folder, sub))
    if folder.non_finite:
        log.warning(
            "%d maps hold NaN or Inf and were scored as all-zero maps, e.g. %s",
            len(folder.non_finite),
            folder.non_finite[:3],
        )
    results = evaluator.compute()
    results["images_scored"] = float(len(ids) - len(missing))
    return results
