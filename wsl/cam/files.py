"""Saved CAMs on disk: both layouts, each with its writer and its reader side by side, and one manifest type.

Two layouts (as :mod:`wsl.data.formats` keeps the dataset formats):

- **wsl** (:class:`CamWriter` writes, with :func:`save_cam_npz`; :class:`SavedCams` reads): one
  ``<stem>.npz`` per image with one ``float16 (H, W)`` map per class, keyed by class name (or by
  :func:`npz_keys`' safe key), and a ``cams.json`` manifest (:class:`CamManifest`, its settings one
  :class:`ManifestOptions` for the export and the prediction) mapping image ids to files and class names
  to keys. The export folder around it (overlays, gallery) is :mod:`wsl.viz.cam_files`, which documents
  the whole layout.
- **wsolevaluation** (:func:`write_scoremap` at :func:`scoremap_path` writes, :class:`SavedCams` reads):
  ``OUT/<image_id>.npy``, one 2-D map per image used for every ground-truth class of that image
  (clovaai/wsolevaluation's score maps; :mod:`wsl.jobs.scoremaps` describes the maps).

Names built from annotation strings are made safe here (:func:`safe_filename`, :func:`safe_join`,
:class:`UniqueNames`, :func:`npz_keys`): an image id or class name never leaves its folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from wsl.runs import atomic_path, write_text

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "MAX_MAP_VALUES",
    "NPZ_COMPRESSLEVEL",
    "CamManifest",
    "CamWriter",
    "ManifestOptions",
    "SavedCams",
    "UniqueNames",
    "load_cam_npz",
    "manifest_class_names",
    "read_npy_map",
    "npz_keys",
    "safe_filename",
    "safe_join",
    "save_cam_npz",
    "scoremap_path",
    "write_scoremap",
]

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "wsl-cams"
MANIFEST_VERSION = 1
#: zlib level of the ``.npz`` files: about 3x faster than numpy's 6, files within 1% of the size.
NPZ_COMPRESSLEVEL = 1

_FLOAT16_MAX = float(np.finfo(np.float16).max)
_MAX_NAME_BYTES = 200  # below the usual 255-byte limit, leaving room for suffixes added by callers
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}


def _to_numpy(array: Any) -> np.ndarray:
    """Numpy array from a numpy array, a torch tensor on any device (bfloat16 → float32) or a list."""
    if isinstance(array, torch.Tensor):
        tensor = array.detach().cpu()
        return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
    return np.asarray(array)


# ------------------------------------------------------------------------------------------ safe names


def safe_filename(name: Any) -> str:
    """Turn an arbitrary string (e.g. an image id from an annotation file) into one safe file name.

    Path separators and characters other than letters, digits, ``.``, ``-`` and ``_`` become ``_``;
    NUL and control characters are removed; leading dots, underscores and spaces are dropped (no
    ``..``, no hidden files); Windows device names get a ``_`` prefix; the result is cut to 200 UTF-8
    bytes. Different names can map to the same file name (``a/b`` and ``a_b``).

    Raises:
        ValueError: if nothing usable remains (e.g. ``".."`` or ``"/"``).

    Example:
        >>> safe_filename("../../etc/passwd")
        'etc_passwd'
    """
    text = unicodedata.normalize("NFC", str(name))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")  # control, NUL, format chars
    text = re.sub(r"[^\w.\-]", "_", text)  # separators, ':' (drive letters), spaces, quotes, < >
    text = re.sub(r"_*\.\.+_*", "_", text)  # no '..' runs left anywhere, even between underscores
    text = text.lstrip("._-").rstrip(". ")
    encoded = text.encode("utf-8")[:_MAX_NAME_BYTES]
    text = encoded.decode("utf-8", errors="ignore").rstrip(". ")
    if not text or not re.search(r"[^_.\-]", text):
        raise ValueError(f"name {name!r} leaves no usable file name once made safe")
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = "_" + text
    return text


def safe_join(out_dir: str | os.PathLike[str], name: Any) -> Path:
    """Join ``out_dir`` and a name from untrusted data so that the result stays inside ``out_dir``.

    Args:
        out_dir: folder the file must live in.
        name: a file name derived from annotations, e.g. ``f"{image_id}_{class_name}.png"``; any path
            parts are flattened by :func:`safe_filename` (``"../../x"`` → ``"x"``, ``"/etc/x"`` →
            ``"etc_x"``).

    Returns:
        ``Path(out_dir) / safe_filename(name)``, a direct child of ``out_dir``.

    Raises:
        ValueError: if nothing usable remains of ``name``.
    """
    root = Path(out_dir)
    path = root / safe_filename(name)
    if path.parent != root or path.name in ("", ".", ".."):  # defensive: safe_filename guarantees it
        raise ValueError(f"name {name!r} would leave out_dir {str(root)!r}")
    return path


class UniqueNames:
    """Unique safe file stems: ``safe_filename`` of a name, with ``-2``, ``-3`` … on collisions.

    Stems are compared case-insensitively, for case-insensitive file systems.

    Example:
        >>> names = UniqueNames()
        >>> names("a/b"), names("a_b"), names("A_B")
        ('a_b', 'a_b-2', 'A_B-3')
    """

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, name: str) -> str:
        base = safe_filename(name)[:120]
        stem, k = base, 1
        while stem.lower() in self._used:
            k += 1
            stem = f"{base}-{k}"
        self._used.add(stem.lower())
        return stem


def _plain_member(name: str) -> bool:
    """Whether a class name can be a zip member name as it is (no path, no drive, no hidden file)."""
    return bool(name) and not name.startswith(".") and re.search(r"[/\\:\x00-\x1f\x7f]", name) is None


def npz_keys(class_names: Sequence[str]) -> dict[str, str]:
    """The ``.npz`` key of each class: its name when that is a plain zip member name, else a unique
    safe stem (``../../evil`` → ``evil``).

    Example:
        >>> npz_keys(["dog", "../../evil", "a/b", "a_b"])
        {'dog': 'dog', '../../evil': 'evil', 'a/b': 'a_b-2', 'a_b': 'a_b'}
    """
    keys = {name: name for name in class_names if _plain_member(name)}
    used = {key.lower() for key in keys.values()}  # case-insensitive, for unzipping on such file systems
    for index, name in enumerate(class_names):
        if name in keys:
            continue
        try:
            base = safe_filename(name)[:120]
        except ValueError:  # nothing usable remains, e.g. '..'
            base = f"class_{index}"
        key, k = base, 1
        while key.lower() in used:
            k += 1
            key = f"{base}-{k}"
        used.add(key.lower())
        keys[name] = key
    return {name: keys[name] for name in class_names}


# ---------------------------------------------------------------------------------------- the manifest


@dataclass(frozen=True)
class CamManifest:
    """``cams.json``: what a folder of ``.npz`` CAMs holds (format in :mod:`wsl.viz.cam_files`;
    written by :meth:`CamWriter.write_manifest`).

    Attributes:
        options: the settings of the folder in the order they are written: ``class_names``, ``npz_keys``,
            ``single_label``, ``classes``, ``threshold`` … (the export's and the prediction's differ).
        images: one record per image (``image_id``, ``npz``, ``size``, ``scores``, ``probs``, ``classes``,
            ``cam_range`` …).
        entries: one record per drawn (image, class) (``image``, ``thumb``, ``pred_boxes``, ``iou`` …).
    """

    options: Mapping[str, Any]
    images: Sequence[Mapping[str, Any]] = ()
    entries: Sequence[Mapping[str, Any]] = ()

    @property
    def class_names(self) -> list[str] | None:
        """The C class names of the maps, None when the manifest does not say."""
        names = self.options.get("class_names")
        return [str(n) for n in names] if isinstance(names, list) and names else None

    @property
    def npz_keys(self) -> dict[str, str]:
        """Class name → ``.npz`` key where they differ (the other keys are the class names)."""
        keys = self.options.get("npz_keys") or {}
        return {str(k): str(v) for k, v in keys.items()}

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "version", **options, "images", "entries"}``, the JSON object written."""
        manifest = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, **self.options}
        manifest.update(images=list(self.images), entries=list(self.entries))
        return manifest

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the manifest as UTF-8 JSON (indent 1), atomically."""
        return write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> CamManifest:
        """Read a ``cams.json``.

        Raises:
            ValueError: unreadable, not JSON, or without an ``images`` list of records with ``image_id``
                and ``npz``.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            images = [dict(m) for m in data["images"]]
            for m in images:
                str(m["image_id"]), str(m["npz"])
            options = {k: v for k, v in data.items() if k not in ("format", "version", "images", "entries")}
            if not isinstance(options.get("npz_keys") or {}, Mapping):
                raise TypeError("npz_keys is not an object")
            entries = list(data.get("entries") or [])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(
                f"{path}: not a CAM manifest ({type(err).__name__}: {err}); expected the cams.json of "
                "tools/export_cams.py or tools/predict.py"
            ) from None
        return cls(options, images, entries)

    @classmethod
    def find(cls, folder: str | os.PathLike[str]) -> tuple[CamManifest, Path] | None:
        """The readable ``cams.json`` beside or above ``folder`` (an export's ``cams/`` folder) and the
        folder it is in, or None."""
        folder = Path(folder)
        for path in (folder / "cams.json", folder.parent / "cams.json"):
            if not path.is_file():
                continue
            try:
                return cls.read(path), path.parent
            except ValueError:
                continue
        return None


# ------------------------------------------------------------------------ the wsl layout: .npz per image


@dataclass(frozen=True)
class ManifestOptions:
    """The settings a ``cams.json`` records, one type for the export and the prediction.

    :meth:`to_dict` gives them in the order written: ``class_names``, ``npz_keys``, ``single_label``,
    ``classes``, then ``selection`` (the prediction's ``top_k`` and ``min_score``), ``threshold``,
    ``multi_contour``, ``cam_method``, ``cam_layer``, ``aug_smooth`` and ``eigen_smooth`` (each only when set,
    so a folder of plain maps is written as before), ``frame``.

    Attributes:
        class_names: the C class names of the maps.
        single_label: softmax (True) or sigmoid (False) probabilities.
        classes: which classes got a map: a class policy (``gt present top1 all``) or the prediction's
            ``top_k`` / ``min_score``.
        threshold: the box threshold of ``pred_boxes``.
        multi_contour: every contour's box (True) or the largest one's.
        cam_method: ``native`` or a post-hoc method; cam_layer: its layer (None: the default; ``a,b``:
            several layers fused).
        aug_smooth, eigen_smooth: the post-hoc method's options (:class:`wsl.cam.stream.CamSource`).
        frame: the frame the maps are saved in (:attr:`SavedCams.saved_frame` reads it back).
        selection: settings of the ``classes`` choice, written right after it (e.g. ``top_k``).
    """

    class_names: Sequence[str]
    single_label: bool
    classes: str
    threshold: float
    multi_contour: bool
    cam_method: str
    cam_layer: str | None
    frame: str
    selection: Mapping[str, Any] = field(default_factory=dict)
    aug_smooth: bool = False
    eigen_smooth: bool = False

    def to_dict(self, npz_keys: Mapping[str, str]) -> dict[str, Any]:
        """The ``options`` of :class:`CamManifest`, with ``npz_keys`` (class name → ``.npz`` key)."""
        return {
            "class_names": [str(n) for n in self.class_names],
            "npz_keys": dict(npz_keys),
            "single_label": bool(self.single_label),
            "classes": self.classes,
            **self.selection,
            "threshold": self.threshold,
            "multi_contour": bool(self.multi_contour),
            "cam_method": self.cam_method,
            "cam_layer": self.cam_layer,
            **{key: True for key in ("aug_smooth", "eigen_smooth") if getattr(self, key)},
            "frame": self.frame,
        }


class CamWriter:
    """The writer of the wsl layout in ``OUT``: ``cams/<stem>.npz`` per image and ``cams.json``.

    Stems are unique safe names (:class:`UniqueNames`: ``<stem>`` is the image id made safe, ``-2``,
    ``-3`` … on collisions); ``.npz`` keys are :func:`npz_keys` of the class names. The export folder
    around it (overlays, thumbnails, gallery) is :class:`wsl.viz.cam_files.ExportFolder`.

    Args:
        out_dir: the folder; created with the subfolders ``subfolders`` (``cams`` here).

    Raises:
        ValueError: ``out_dir`` exists and is not a folder, or cannot be created.
    """

    subfolders: tuple[str, ...] = ("cams",)

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        root = self.check(out_dir)
        try:
            for sub in ("", *self.subfolders):
                (root / sub).mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as err:
            raise ValueError(f"out_dir {str(root)!r} cannot be created ({err}); pass a folder path") from err
        self.root = root
        self._image_stems = UniqueNames()
        self._class_stems = UniqueNames()
        self._class_files: dict[str, str] = {}
        self.npz_keys: dict[str, str] = {}  # class name -> .npz key, once the class names are known

    @staticmethod
    def check(out_dir: str | os.PathLike[str]) -> Path:
        """``out_dir`` as a path; raises ValueError when it exists and is not a folder."""
        root = Path(out_dir)
        if root.exists() and not root.is_dir():
            raise ValueError(f"out_dir {str(root)!r} exists and is not a folder; pass a folder path")
        return root

    @property
    def manifest_path(self) -> Path:
        return self.root / "cams.json"

    def image_stem(self, image_id: str) -> str:
        """A new unique stem for an image (call once per image)."""
        return self._image_stems(image_id)

    def class_file(self, class_name: str) -> str:
        """The stem of a class (the same one every time)."""
        if class_name not in self._class_files:
            self._class_files[class_name] = self._class_stems(class_name)
        return self._class_files[class_name]

    def write_cams(self, stem: str, cams: Mapping[str, Any]) -> str:
        """Write ``cams/<stem>.npz`` (class name → map, cast to float16, keyed by :func:`npz_keys`);
        returns its relative path."""
        path = safe_join(self.root / "cams", f"{stem}.npz")
        missing = [name for name in cams if name not in self.npz_keys]
        if missing:
            self.npz_keys = npz_keys([*self.npz_keys, *missing])
        keyed = {self.npz_keys[name]: cam for name, cam in cams.items()}
        save_cam_npz(path, keyed, compresslevel=NPZ_COMPRESSLEVEL)
        return f"cams/{path.name}"

    def write_manifest(
        self, options: ManifestOptions, images: Sequence[Any], entries: Sequence[Any] = ()
    ) -> Path:
        """Write ``cams.json`` (:class:`CamManifest`): format, version, ``options`` with this folder's
        ``npz_keys``, images, entries."""
        return CamManifest(options.to_dict(self.npz_keys), images, entries).write(self.manifest_path)


def save_cam_npz(path: str | os.PathLike[str], cams: Mapping[str, Any], compresslevel: int = 6) -> Path:
    """Save named CAMs (or class maps) as float16 arrays in a compressed ``.npz``, atomically.

    The file is what ``numpy.savez_compressed`` writes (a deflated zip of ``<key>.npy`` members, read by
    ``numpy.load``); ``compresslevel`` 1 is about 3x faster than numpy's 6 with files within 1% of the
    size for smooth maps. Values are rounded to float16 from their own precision (a float64 map in
    [0, 1] is cast once); values beyond the float16 range (±65504) are clipped to it rather than
    becoming ±inf; NaN stays NaN. float16 keeps about 3 significant digits, plenty for normalised
    [0, 1] maps (step ≤ 2⁻¹¹).

    Args:
        path: destination file; written exactly there (no ``.npz`` is appended), parents created,
            through :func:`wsl.runs.atomic_path`.
        cams: mapping of a name (e.g. a class name) to an array of any shape, numpy or torch.
        compresslevel: zlib level, 0 (stored) to 9.

    Returns:
        The path written.

    Example:
        >>> save_cam_npz("/tmp/x.npz", {"dog": np.random.rand(4, 5)})  # doctest: +SKIP
    """
    if not isinstance(cams, Mapping):
        raise TypeError(f"cams must be a dict of name -> array; got {type(cams).__name__}")
    if isinstance(compresslevel, bool) or compresslevel not in range(10):
        raise ValueError(f"compresslevel must be an int in 0..9; got {compresslevel!r}")
    arrays: dict[str, np.ndarray] = {}
    for key, value in cams.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"cams keys must be non-empty strings; got {key!r}")
        array = _to_numpy(value)
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise TypeError(f"cams[{key!r}] must be a numeric array; got dtype {array.dtype}")
        if array.dtype != np.float16:
            with np.errstate(invalid="ignore"):
                array = np.clip(array, -_FLOAT16_MAX, _FLOAT16_MAX).astype(np.float16)
        arrays[key] = array
    path = Path(path)
    with (
        atomic_path(path) as tmp,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive,
    ):
        for key, array in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return path


def load_cam_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a file written by :func:`save_cam_npz` back into a dict of float16 arrays."""
    with np.load(Path(path), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def manifest_class_names(folder: str | os.PathLike[str]) -> list[str] | None:
    """The ``class_names`` of the first readable ``cams.json`` (:meth:`CamManifest.read`) beside or above
    ``folder`` that lists any, else None."""
    folder = Path(folder)
    for path in (folder / "cams.json", folder.parent / "cams.json"):
        try:
            names = CamManifest.read(path).class_names
        except ValueError:
            continue
        if names:
            return names
    return None


# ----------------------------------------------------------------- the wsolevaluation layout: .npy per id


def scoremap_path(out_dir: str | os.PathLike[str], image_id: str) -> Path:
    """``OUT/<image_id>.npy``, wsolevaluation's file of ``image_id``.

    Raises:
        ValueError: an id that would leave ``out_dir`` (absolute, or with ``..`` or ``\\`` parts).

    Example:
        >>> scoremap_path("maps", "001.Albatross/a_1.jpg").as_posix()
        'maps/001.Albatross/a_1.jpg.npy'
    """
    parts = PurePosixPath(image_id).parts
    if not parts or image_id.startswith("/") or "\\" in image_id or any(p in ("..", ".") for p in parts):
        raise ValueError(
            f"image id {image_id!r} cannot name a file inside out_dir (absolute, or with '..', '.' or '\\\\' "
            "parts); wsolevaluation's layout needs ids relative to the image root, as its metadata has"
        )
    return Path(out_dir).joinpath(*parts[:-1], parts[-1] + ".npy")


def write_scoremap(path: Path, cam: np.ndarray) -> None:
    """Write one score map as wsolevaluation's ``numpy.save`` file at ``path`` (atomically, no pickle)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: numpy.save adds no suffix
        np.save(f, cam, allow_pickle=False)


# ------------------------------------------------------------------------------ reading one map safely

#: The most values one saved map may hold (a 16384 × 16384 map): a header claiming more is refused
#: before any memory is taken.
MAX_MAP_VALUES = 16384 * 16384


def _read_header(fp: Any, where: str) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """The ``(shape, fortran_order, dtype)`` of the ``.npy`` header at ``fp``, checked."""
    prefix = fp.read(8)
    if prefix.startswith(b"PK"):
        raise ValueError(
            f"{where}: a zip archive (a .npz?), not a .npy map; name .npz files .npz, or save one map per "
            ".npy with numpy.save"
        )
    if len(prefix) < 8 or not prefix.startswith(b"\x93NUMPY"):
        raise ValueError(
            f"{where}: not a .npy map (it starts with {prefix[:8]!r}, not numpy's magic string; text, "
            "another format or an empty file); save each map with numpy.save of a 2-D float array"
        )
    version = (prefix[6], prefix[7])
    try:
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f".npy format version {version} is not read here (1.0 and 2.0 are)")
    except (ValueError, EOFError, SyntaxError, OverflowError, TypeError) as err:
        raise ValueError(
            f"{where}: not a readable .npy map ({err}); save each map with numpy.save of a 2-D float array"
        ) from None
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in "biuf":
        raise ValueError(
            f"{where}: the map has dtype {dtype} (not a plain number); save a 2-D float array, e.g. float32"
        )
    if len(shape) != 2 or 0 in shape:
        raise ValueError(f"{where}: the map has shape {shape}; expected a 2-D (H, W) map with no empty side")
    if shape[0] * shape[1] > MAX_MAP_VALUES:
        raise ValueError(
            f"{where}: the header claims a {shape[0]} x {shape[1]} map, more than the {MAX_MAP_VALUES} "
            "values a map may hold; save maps at the image size or smaller"
        )
    return shape, fortran, dtype


def read_npy_map(fp: Any, where: str, size: int | None = None) -> np.ndarray:
    """Read one 2-D numeric map from the ``.npy`` stream ``fp``, its header checked before any data is
    read (never with pickle).

    Args:
        fp: a binary file object at the start of the ``.npy`` data.
        where: the file (and member) the messages name.
        size: the number of bytes of the whole ``.npy`` (when known), to name a truncated file.

    Raises:
        ValueError: naming ``where``: not a ``.npy`` (text, a zip/``.npz``, a wrong header), a dtype other
            than bool/int/float (strings, structures, objects), not a non-empty 2-D shape, a header
            claiming more than :data:`MAX_MAP_VALUES` values, or fewer data bytes than the header says.
    """
    shape, fortran, dtype = _read_header(fp, where)
    need = shape[0] * shape[1] * dtype.itemsize
    if size is not None and hasattr(fp, "tell") and size - fp.tell() < need:
        raise ValueError(
            f"{where}: truncated ({size - fp.tell()} bytes of data, the header's {shape} {dtype} map needs "
            f"{need}); write the file again"
        )
    data = fp.read(need)
    if len(data) < need:
        raise ValueError(
            f"{where}: truncated ({len(data)} bytes of data, the header's {shape} {dtype} map needs {need}); "
            "write the file again"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


# --------------------------------------------------------------------------- the reader of both layouts


class SavedCams:
    """Read-only view of a folder of saved CAMs (see the module docstring for the layout).

    Files are matched to image ids by ``cams.json`` when the folder (or its parent, for an export's
    ``cams/`` folder) holds one, else by their path relative to the folder without the suffix:
    subfolders are searched, so the id ``a/x`` is ``a/x.npz`` (files in hidden folders are skipped; a
    hidden file is the map of an id that starts with ``.``).
    The manifest's ``npz_keys`` maps a class name to its key in the ``.npz`` files where the two differ
    (a class name that is not a safe zip member name); other keys are the class names.

    Args:
        root: the folder.
        class_names: the dataset's classes, to map ``.npz`` keys to class indices.
        frame: the evaluation frame the maps are scored in (``original`` or ``wsolevaluation``); a
            manifest that records another frame is refused (:meth:`check_frame`). None: not checked.
    """

    def __init__(self, root: str | Path, class_names: list[str], frame: str | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"cam_dir {str(self.root)!r} is not a folder; pass the folder of .npy/.npz CAMs")
        self.class_names = list(class_names)
        self.npz_keys: dict[str, str] = {}
        self.manifest: CamManifest | None = None
        self.files = {
            p.relative_to(self.root).with_suffix("").as_posix(): p
            for p in sorted(self.root.rglob("*"))
            if p.suffix in (".npy", ".npz")
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(self.root).parts[:-1])
        }
        self.files.update(self._manifest_files())
        if not self.files:
            raise ValueError(
                f"cam_dir {str(self.root)!r} holds no .npy or .npz file (subfolders included); one per "
                "image id is expected"
            )
        self.non_finite: list[str] = []
        self.frame = frame
        if frame is not None:
            self.check_frame(frame)

    @property
    def saved_frame(self) -> str | None:
        """The frame the manifest records the maps were written in (None: no manifest, or it does not
        say: exports written before the frame was recorded)."""
        frame = self.manifest.options.get("frame") if self.manifest is not None else None
        return str(frame) if frame is not None else None

    def check_frame(self, frame: str) -> None:
        """Refuse to score the maps in ``frame`` when the manifest records another one.

        Raises:
            ValueError: naming the folder, both frames and the ``--protocol`` to pass.
        """
        saved = self.saved_frame
        if saved is not None and saved != frame:
            raise ValueError(
                f"cam_dir {str(self.root)!r}: its cams.json says the maps were written in the {saved!r} "
                f"frame, not {frame!r}; scored in another frame the boxes and maps do not line up. Pass "
                f"--protocol {saved} (protocol={saved!r})"
            )

    def _manifest_files(self) -> dict[str, Path]:
        """``image_id → file`` from an export's ``cams.json`` beside or above the folder (and its
        ``npz_keys`` into :attr:`npz_keys`); files outside the folder are ignored."""
        found = CamManifest.find(self.root)
        if found is None:
            return {}
        manifest, where = found
        self.manifest = manifest
        self.npz_keys = dict(manifest.npz_keys)
        root = self.root.resolve()
        files = {str(m["image_id"]): where / m["npz"] for m in manifest.images}
        return {
            image_id: path
            for image_id, path in files.items()
            if path.is_file() and path.resolve().is_relative_to(root)
        }

    def check_ids(self, image_ids: list[str], skip_missing: bool = False) -> list[str]:
        """Compare the folder with the split: missing ids raise (or are returned with ``skip_missing``),
        extra files are reported in a warning."""
        wanted = set(image_ids)
        missing = [i for i in image_ids if i not in self.files]
        used = {self.files[i] for i in wanted if i in self.files}
        extra = sorted(i for i, p in self.files.items() if i not in wanted and p not in used)
        if extra:
            log.warning("%d CAM files match no image of the split (ignored), e.g. %s", len(extra), extra[:3])
        if missing and not skip_missing:
            raise ValueError(
                f"{len(missing)} of {len(image_ids)} images have no CAM file in {str(self.root)!r} "
                f"(e.g. {missing[:3]}); expected <image_id>.npz or <image_id>.npy for every image, "
                "or skip_missing=True to score only the images that have one"
            )
        return missing

    def _check(self, path: Path, name: str, cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        if cam.ndim != 2:
            raise ValueError(f"{path}: map {name!r} has shape {cam.shape}; expected a 2-D (H, W) map")
        if cam.shape[0] > size[0] or cam.shape[1] > size[1]:
            raise ValueError(
                f"{path}: map {name!r} is {cam.shape}, larger than the image {size}; save CAMs at the image "
                "size or at the feature-map size"
                + (
                    ""
                    if self.frame == "wsolevaluation"
                    else "; maps of wsolevaluation's layout (224 x 224) are scored with --protocol "
                    "wsolevaluation"
                )
            )
        if not np.isfinite(cam).all():
            self.non_finite.append(f"{path.name}:{name}")
        return cam.astype(np.float32)

    def maps(self, image_id: str, classes: list[int], size: tuple[int, int]) -> torch.Tensor:
        """The maps (len(classes), h, w) of ``image_id`` for ``classes``."""
        path = self.files[image_id]
        if path.suffix == ".npy":
            with open(path, "rb") as f:
                array = read_npy_map(f, str(path), os.fstat(f.fileno()).st_size)
            cam = self._check(path, "map", array, size)
            return torch.from_numpy(cam).expand(len(classes), *cam.shape)
        # The members are read straight from the zip (``numpy.load`` of an .npz adds ~50 % per file).
        try:
            with zipfile.ZipFile(path) as archive:
                members = {n[: -len(".npy")]: n for n in archive.namelist() if n.endswith(".npy")}
                out = []
                for c in classes:
                    name = self.class_names[c]
                    key = self.npz_keys.get(name, name)
                    if key not in members:
                        raise ValueError(
                            f"{path}: no map for class {name!r}"
                            + (f" (key {key!r} in cams.json's npz_keys)" if key != name else "")
                            + f" (present in the ground truth); keys found: {sorted(members)}"
                        )
                    info = archive.getinfo(members[key])
                    with archive.open(info) as member:
                        array = read_npy_map(member, f"{path} (map {name!r})", info.file_size)
                    out.append(torch.from_numpy(self._check(path, name, array, size)))
        except (OSError, zipfile.BadZipFile, EOFError) as err:
            raise ValueError(f"{path}: cannot be read as a .npz of maps ({err})") from err
        shapes = {tuple(m.shape) for m in out}
        if len(shapes) > 1:
            raise ValueError(f"{path}: the class maps have different shapes {sorted(shapes)}; save one size")
        return torch.stack(out)
