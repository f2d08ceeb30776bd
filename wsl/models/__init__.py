"""Networks: timm backbones with a CAM head and a spatial pooling head."""

from wsl.models.backbone import Backbone, create_backbone
from wsl.models.head import CAMHead
from wsl.models.model import WSLNet

__all__ = ["Backbone", "CAMHead", "WSLNet", "create_backbone"]
