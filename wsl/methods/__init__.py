"""WSOL training methods beside the pooling heads (wsolevaluation's comparison, Choe et al., CVPR 2020).

``cam`` (default, plain CAM), ``has`` (hide-and-seek), ``cutmix``, ``adl`` (attention-based dropout),
``acol`` (adversarial complementary learning) and ``spg`` (self-produced guidance), selected with
``WSLModule(method=..., method_kwargs=...)`` / ``--model.method has --model.method_kwargs '{"grid": 4}'``.
"""

# isort: off
# Imported to register, in the registry's order: cam (the default), has, cutmix, adl, acol, spg.
from wsl.methods import cam, has, cutmix, adl, acol, spg

# isort: on
from wsl.methods.base import LossFn, WSOLMethod
from wsl.methods.registry import METHODS, get_method, method_kwargs, register_method

del cam, has, cutmix, adl, acol, spg

__all__ = ["METHODS", "LossFn", "WSOLMethod", "get_method", "method_kwargs", "register_method"]
