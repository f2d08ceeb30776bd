"""Datasets (VOC, COCO, synthetic shapes), transforms and the Lightning DataModule.

See ``docs/design.md`` for the item dict and ``SPEC.md`` section 4 for the layouts.
"""

from .coco import COCODataset, coco_box_to_xyxy, decode_segmentation, read_coco_categories
from .collate import collate_wsl
from .datamodule import WSLDataModule, parse_data_spec
from .errors import DatasetError
from .synthetic import (
    PRESETS,
    SyntheticParams,
    SyntheticSample,
    default_cache_dir,
    ensure_synthetic,
    make_synthetic,
    render_sample,
    synthetic_params,
)
from .transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    TrainTransform,
    build_transform,
    denormalize,
)
from .voc import VOC_CLASSES, VOCDataset

__all__ = [
    "COCODataset",
    "DatasetError",
    "EvalTransform",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRESETS",
    "SyntheticParams",
    "SyntheticSample",
    "TrainTransform",
    "VOCDataset",
    "VOC_CLASSES",
    "WSLDataModule",
    "build_transform",
    "coco_box_to_xyxy",
    "collate_wsl",
    "decode_segmentation",
    "default_cache_dir",
    "denormalize",
    "ensure_synthetic",
    "make_synthetic",
    "parse_data_spec",
    "read_coco_categories",
    "render_sample",
    "synthetic_params",
]
