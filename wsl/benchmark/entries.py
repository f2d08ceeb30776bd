"""What the benchmark compares: entries (pooling heads, WSOL methods, post-hoc CAMs, the center baseline)
and the declared hyper-parameter grids of the heads.

An entry is one row of the comparison table, named by a token of ``--entries``:

- ``POOL`` (``gap``, ``weldon`` ...): a network trained with that pooling head and plain CAM training;
- ``METHOD`` (``has``, ``cutmix``, ``adl``, ``acol``): a network trained with that WSOL method on the
  ``method_pool`` head (``gap``, as in wsolevaluation), or ``METHOD/POOL`` on another head;
- ``CAM@ENTRY`` (``gradcam@gap``): the post-hoc CAM method ``CAM`` (:data:`wsl.cam.POSTHOC_METHODS`)
  applied to the checkpoints of the trained entry ``ENTRY`` (listed too), seed by seed, no training;
- ``center``: the centred Gaussian of :mod:`wsl.cam.center`, the floor every method must beat.

:data:`GRIDS` declares, per pooling head, the settings of its main hyper-parameter searched on the
validation split (``pool_kwargs`` of the head; a head without an entry has nothing to choose). Methods
keep their documented defaults.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wsl.cam import POSTHOC_METHODS
from wsl.methods import METHODS
from wsl.pooling import POOLS

__all__ = ["GRIDS", "Entry", "parse_entries", "setting_tag"]

# The main hyper-parameter of each head, searched on val (one-factor grids around the defaults).
GRIDS: dict[str, list[dict[str, Any]]] = {
    "lse": [{"beta": 2.0}, {"beta": 5.0}, {"beta": 10.0}],
    "kmax": [{"k": 0.05}, {"k": 0.1}, {"k": 0.3}],
    "weldon": [{"kmax": 0.05}, {"kmax": 0.1}, {"kmax": 0.3}],
    "autopool": [{}, {"constraint": "nonneg"}, {"rap_weight": 0.001}],
}


@dataclass(frozen=True)
class Entry:
    """One row of the comparison.

    Attributes:
        name: the token that named it (the table's label).
        kind: ``train`` (a network is trained), ``posthoc`` (CAMs of another entry's networks) or
            ``center`` (no network).
        pool: the pooling head of a trained entry.
        method: the WSOL training method of a trained entry (``cam``: plain training).
        source: the trained entry whose checkpoints a post-hoc entry reads.
        cam_method: the post-hoc CAM method (``native`` for trained entries).
    """

    name: str
    kind: str
    pool: str | None = None
    method: str = "cam"
    source: str | None = None
    cam_method: str = "native"

    @property
    def slug(self) -> str:
        """The entry's name as a folder: ``gradcam@gap`` → ``gradcam-on-gap``, ``has/lse`` → ``has-lse``."""
        return self.name.replace("@", "-on-").replace("/", "-")


def _trained(token: str, name: str, method_pool: str) -> Entry:
    method, _, pool = name.partition("/")
    if method in POOLS and not pool:
        return Entry(token, "train", pool=method)
    if method not in METHODS or method == "cam":
        choices = ", ".join([*POOLS, *(m for m in METHODS if m != "cam")])
        raise ValueError(f"entries: unknown entry {token!r}; choose a pool or a method from {choices}")
    pool = pool or method_pool
    if pool not in POOLS:
        raise ValueError(f"entries: unknown pool {pool!r} in {token!r}; choose from {', '.join(POOLS)}")
    return Entry(token, "train", pool=pool, method=method)


def parse_entries(entries: str | Sequence[str], method_pool: str = "gap") -> list[Entry]:
    """``"gap,weldon,has,gradcam@gap,center"`` → the entries, in order (grammar in the module docstring).

    Raises:
        ValueError: an empty or repeated token, an unknown pool, method or CAM method, or a post-hoc
            entry whose source is not a trained entry of the list.

    Example:
        >>> [(e.name, e.kind, e.pool, e.method) for e in parse_entries("gap,has,center")]
        [('gap', 'train', 'gap', 'cam'), ('has', 'train', 'gap', 'has'), ('center', 'center', None, 'cam')]
    """
    tokens = (
        [t.strip() for t in entries.split(",")] if isinstance(entries, str) else [str(t) for t in entries]
    )
    if not tokens or any(not t for t in tokens):
        raise ValueError(f"entries: got {entries!r}; expected comma-separated names such as gap,has,center")
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"entries: got {entries!r} with a repeated name; list each entry once")
    out: list[Entry] = []
    for token in tokens:
        cam, at, source = token.partition("@")
        if token == "center":
            out.append(Entry(token, "center"))
        elif at:
            if cam not in POSTHOC_METHODS or cam == "native":
                choices = ", ".join(m for m in POSTHOC_METHODS if m != "native")
                raise ValueError(f"entries: unknown CAM method {cam!r} in {token!r}; choose from {choices}")
            out.append(Entry(token, "posthoc", source=source, cam_method=cam))
        else:
            out.append(_trained(token, token, method_pool))
    trained = {e.name: e for e in out if e.kind == "train"}
    for entry in out:
        if entry.kind == "posthoc" and entry.source not in trained:
            raise ValueError(
                f"entries: {entry.name!r} reads the checkpoints of {entry.source!r}, which is not a trained "
                f"entry of the list; add it before, e.g. {entry.source},{entry.name}"
            )
    return out


def setting_tag(kwargs: dict[str, Any]) -> str:
    """A folder-safe tag of pool kwargs: ``{"beta": 5.0}`` → ``beta5``, ``{}`` → ``""``.

    Example:
        >>> setting_tag({"kmax": 0.1, "alpha": 0.5}), setting_tag({"constraint": "nonneg"})
        ('alpha0.5_kmax0.1', 'constraint-nonneg')
    """
    parts = []
    for key in sorted(kwargs):
        value = kwargs[key]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = value if isinstance(value, str) else json.dumps(value)
        parts.append(f"{key}-{text}" if isinstance(value, str) else f"{key}{text}")
    return "_".join(parts)
