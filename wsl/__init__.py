"""wsl: weakly supervised object localization with timm backbones and spatial pooling heads."""

__version__ = "0.1.0"
__all__ = ["__version__"]
