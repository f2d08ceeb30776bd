"""Input handling shared by the localization metrics: maps, masks and flags → numpy, checked once.

A (N, H, W) tensor crosses to numpy in one piece (one device → host copy per batch), a list of maps map
by map; numpy input is not copied. Each function raises ``ValueError`` naming the argument, the index
and what is accepted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__: list[str] = []  # private helpers of wsl.metrics' metric modules


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _map_list(maps, name: str, *, boolean: bool = False, quantized: bool = False) -> list[np.ndarray]:
    """Split a (N, H, W) tensor/array or a sequence of (H_i, W_i) maps into a list of 2-D numpy arrays.

    A (N, H, W) tensor crosses to numpy in one piece (one device → host copy for the batch), a list
    of tensors map by map; numpy input is not copied. ``quantized`` also admits uint8 maps.
    """
    if isinstance(maps, (torch.Tensor, np.ndarray)):
        if maps.ndim != 3:
            raise ValueError(f"{name} must be (N, H, W) or a list of (H, W) maps; got {tuple(maps.shape)}")
        items = list(_to_numpy(maps))
    elif isinstance(maps, Sequence) and not isinstance(maps, (str, bytes)):
        items = list(maps)
    else:
        raise ValueError(f"{name} must be a (N, H, W) tensor or a list of (H, W) maps; got {type(maps)}")
    out = []
    for i, m in enumerate(items):
        arr = _to_numpy(m)
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ValueError(f"{name}[{i}] must be a non-empty 2-D (H, W) map; got shape {arr.shape}")
        if boolean:
            if arr.dtype != np.bool_:
                raise ValueError(f"{name}[{i}] must be a bool mask; got dtype {arr.dtype}")
        elif not np.issubdtype(arr.dtype, np.floating) and not (quantized and arr.dtype == np.uint8):
            accepted = "a floating-point map" + (" or a uint8 map from quantize_cam" if quantized else "")
            raise ValueError(f"{name}[{i}] must be {accepted}; got dtype {arr.dtype}")
        out.append(arr)
    return out


def _flag_vector(flags, n: int, name: str) -> np.ndarray | None:
    if flags is None:
        return None
    arr = _to_numpy(flags)
    if arr.dtype != np.bool_:
        raise ValueError(f"{name} must be a bool tensor of shape ({n},); got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one flag per map); got {arr.shape}")
    return arr


def _same_shapes(a: list[np.ndarray], b: list[np.ndarray], name_a: str, name_b: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must have the same length; got {len(a)} and {len(b)}")
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.shape != y.shape:
            raise ValueError(f"{name_b}[{i}] must have the shape of {name_a}[{i}] {x.shape}; got {y.shape}")
