"""Spatial pooling heads (class maps → scores), class-wise mean and the local SoftPool2d layer.

See SPEC section 2 for the exact formulas; ``functional`` holds the math, the modules hold parameters.
The local SoftPool function is ``wsl.pooling.functional.softpool2d``: the package attribute
``softpool2d`` is the submodule holding the ``SoftPool2d`` layer, so the function is not re-exported
here (it would shadow the submodule).
"""

from __future__ import annotations

from wsl.pooling import functional
from wsl.pooling.functional import (
    autopool,
    class_wise_mean,
    gap,
    gmp,
    kmax,
    lse,
    resolve_k,
    softpool,
    weldon,
)
from wsl.pooling.modules import (
    AutoPool2d,
    ClassWiseMean,
    GlobalAvgPool,
    GlobalMaxPool,
    KMaxPool,
    LSEPool,
    PoolHead,
    SoftPool,
    WeldonPool,
)
from wsl.pooling.registry import POOLS, build_pool, pool_kwargs
from wsl.pooling.softpool2d import SoftPool2d, replace_stem_maxpool

__all__ = [
    "functional",
    "gmp",
    "gap",
    "lse",
    "kmax",
    "weldon",
    "softpool",
    "autopool",
    "resolve_k",
    "class_wise_mean",
    "PoolHead",
    "GlobalMaxPool",
    "GlobalAvgPool",
    "LSEPool",
    "KMaxPool",
    "WeldonPool",
    "SoftPool",
    "AutoPool2d",
    "ClassWiseMean",
    "SoftPool2d",
    "replace_stem_maxpool",
    "POOLS",
    "build_pool",
    "pool_kwargs",
]
