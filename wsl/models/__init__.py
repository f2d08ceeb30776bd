"""Networks: timm backbones with a CAM head and a spatial pooling head."""

from wsl.models.backbone import (
    FEATURE_MAP_RULES,
    WSOL_NETWORKS,
    Backbone,
    PretrainedWeightsError,
    WsolNetwork,
    create_backbone,
    load_pretrained_classifier,
    resolve_backbone_name,
)
from wsl.models.head import CAMHead, HeadSpec
from wsl.models.inception_cam import InceptionV3CAMBody
from wsl.models.model import HEAD_INITS, NET_ARGS, BackboneSpec, WSLNet, net_specs
from wsl.models.vgg_cam import VGG16CAMBody

__all__ = [
    "FEATURE_MAP_RULES",
    "HEAD_INITS",
    "NET_ARGS",
    "WSOL_NETWORKS",
    "Backbone",
    "BackboneSpec",
    "CAMHead",
    "HeadSpec",
    "InceptionV3CAMBody",
    "PretrainedWeightsError",
    "VGG16CAMBody",
    "WSLNet",
    "WsolNetwork",
    "create_backbone",
    "load_pretrained_classifier",
    "net_specs",
    "resolve_backbone_name",
]
