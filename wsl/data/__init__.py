"""Datasets (VOC, COCO, synthetic shapes), the format registry, transforms and the Lightning DataModule.

See ``docs/design.md`` for the item dict and ``SPEC.md`` section 4 for the layouts. Each format module
(``voc.py``, ``coco.py``) holds its reader and its writer and registers them in
:data:`~wsl.data.formats.FORMATS`; import a new format module here.
"""

from .base import DatasetOptions, WSLDataset
from .coco import (
    COCODataset,
    COCOWriter,
    coco_box_to_xyxy,
    decode_segmentation,
    image_ids_of_file_names,
    mask_to_coco_segmentation,
    read_coco_categories,
)
from .collate import collate_wsl
from .cub import CUBDataset
from .datamodule import WSLDataModule, data_kinds, parse_data_spec
from .errors import DatasetError
from .formats import (
    FORMATS,
    DatasetFormat,
    DatasetWriter,
    format_names,
    get_format,
    register_format,
)
from .ilsvrc import ILSVRCListDataset
from .imagefolder import CSVLabelsDataset, ImageFolderDataset
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
    denormalize_float,
)
from .voc import VOC_CLASSES, VOCDataset, VOCWriter, read_class_names
from .wsol import WSOLDataset

__all__ = [
    "COCODataset",
    "COCOWriter",
    "DatasetError",
    "DatasetFormat",
    "DatasetOptions",
    "DatasetWriter",
    "EvalTransform",
    "FORMATS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRESETS",
    "SyntheticParams",
    "SyntheticSample",
    "TrainTransform",
    "VOCDataset",
    "VOCWriter",
    "VOC_CLASSES",
    "WSLDataModule",
    "WSLDataset",
    "WSOLDataset",
    "build_transform",
    "coco_box_to_xyxy",
    "collate_wsl",
    "data_kinds",
    "decode_segmentation",
    "default_cache_dir",
    "denormalize",
    "denormalize_float",
    "ensure_synthetic",
    "format_names",
    "get_format",
    "image_ids_of_file_names",
    "make_synthetic",
    "mask_to_coco_segmentation",
    "parse_data_spec",
    "read_class_names",
    "read_coco_categories",
    "register_format",
    "CUBDataset",
    "CSVLabelsDataset",
    "ImageFolderDataset",
    "ILSVRCListDataset",
    "render_sample",
    "synthetic_params",
]
