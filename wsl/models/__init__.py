"""Networks: timm backbones with a CAM head and a spatial pooling head."""

from wsl.models.backbone import (
    FEATURE_MAP_RULES,
    Backbone,
    PretrainedWeightsError,
    create_backbone,
    load_pretrained_classifier,
    resolve_backbone_name,
)
from wsl.models.head import CAMHead
from wsl.models.model import HEAD_INITS, WSLNet

__all__ = [
    "FEATURE_MAP_RULES",
    "HEAD_INITS",
    "Backbone",
    "CAMHead",
    "PretrainedWeightsError",
    "WSLNet",
    "create_backbone",
    "load_pretrained_classifier",
    "resolve_backbone_name",
]
