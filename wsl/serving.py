"""Take a trained network out of the framework: ONNX, ``torch.export`` programs, and a pretrained folder.

Every exported model maps the **normalised** network input to the network output::

    images (N, 3, S, S) float32  →  scores (N, C) logits, class_maps (N, C, h, w)

where ``images = (rgb / 255 − mean) / std`` resized to ``S × S`` (the evaluation transform of
:mod:`wsl.data.transforms`; ``mean``/``std`` are stored in ``config.json``). The batch size is
dynamic; the input side is fixed at export (the pooling heads' ``k`` depends on ``h · w``).

- :func:`export_onnx` → an ``.onnx`` file for ONNX Runtime (``pip install 'wsl[onnx]'``),
- :func:`export_program` → a ``torch.export`` ``.pt2`` program (:func:`load_program` reads it back);
  ``torch.jit.trace`` is not offered: it is deprecated and cannot trace the pooling heads' ``k``,
- :func:`save_pretrained` / :func:`from_pretrained`: ``config.json`` + ``model.safetensors``, loaded
  offline without the Lightning checkpoint and without running pickled code.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wsl.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from wsl.runs import RunFolder, atomic_path, parse_threshold, write_json

__all__ = [
    "PRETRAINED_FORMAT",
    "export_onnx",
    "export_program",
    "from_pretrained",
    "load_program",
    "save_pretrained",
]

PRETRAINED_FORMAT = "wsl-pretrained"
PRETRAINED_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def _net(module: nn.Module) -> nn.Module:
    """The plain network of a WSLModule (or the module itself), in eval mode, float32, on the CPU."""
    return getattr(module, "net", module).eval().float().cpu()


def _example(image_size: int) -> torch.Tensor:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int (the network input side); got {image_size!r}")
    return torch.randn(2, 3, image_size, image_size)


def export_onnx(module: nn.Module, path: str | os.PathLike[str], image_size: int, opset: int = 18) -> Path:
    """Write the network as ONNX with inputs ``images`` and outputs ``scores``, ``class_maps``.

    Args:
        module: a :class:`~wsl.lit.WSLModule` (its ``.net``) or a ``WSLNet``; moved to the CPU in eval mode.
        path: the ``.onnx`` file (written atomically).
        image_size: the input side ``S`` (the training size, :meth:`wsl.runs.RunFolder.training_image_size`).
        opset: ONNX opset version.

    Returns:
        ``path``.

    Raises:
        ImportError: ``onnx``/``onnxscript`` are not installed (``pip install 'wsl[onnx]'``).
        ValueError: a bad ``image_size``.

    Example:
        >>> from wsl.models import WSLNet
        >>> export_onnx(WSLNet(3, pool="gap"), "net.onnx", 64)  # doctest: +SKIP
        >>> import onnxruntime  # doctest: +SKIP
        >>> session = onnxruntime.InferenceSession("net.onnx")  # doctest: +SKIP
        >>> scores, class_maps = session.run(None, {"images": images_numpy})  # doctest: +SKIP
    """
    example = _example(image_size)
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ImportError(f"export_onnx needs onnx and onnxscript ({err}); pip install 'wsl[onnx]'") from err
    net = _net(module)
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress notes and deprecations
        onnx_path = tmp.with_suffix(".onnx")
        try:
            torch.onnx.export(
                net,
                (example,),
                str(onnx_path),
                dynamo=True,
                input_names=["images"],
                output_names=["scores", "class_maps"],
                dynamic_shapes=({0: "batch"},),
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
            os.replace(onnx_path, tmp)
        finally:
            onnx_path.unlink(missing_ok=True)
    return path


def export_program(module: nn.Module, path: str | os.PathLike[str], image_size: int) -> Path:
    """Write the network as a ``torch.export`` program (``.pt2``), dynamic in the batch size.

    Args:
        module: a :class:`~wsl.lit.WSLModule` or a ``WSLNet``; moved to the CPU in eval mode.
        path: the ``.pt2`` file (written atomically).
        image_size: the input side ``S``.

    Returns:
        ``path``; ``load_program(path)(images)`` gives ``(scores, class_maps)``.

    Example:
        >>> import tempfile
        >>> from wsl.models import WSLNet
        >>> net = WSLNet(3, pool="gap")
        >>> path = export_program(net, Path(tempfile.mkdtemp()) / "net.pt2", 64)  # doctest: +SKIP
        >>> scores, class_maps = load_program(path)(torch.zeros(1, 3, 64, 64))  # doctest: +SKIP
        >>> tuple(scores.shape), tuple(class_maps.shape)  # doctest: +SKIP
        ((1, 3), (1, 3, 2, 2))
    """
    example = _example(image_size)
    net = _net(module)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with torch.no_grad():
        program = torch.export.export(net, (example,), dynamic_shapes=({0: batch},))
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No complete tensor found")
        torch.export.save(program, str(tmp))
    return path


def load_program(path: str | os.PathLike[str]) -> nn.Module:
    """The callable module of a program written by :func:`export_program`."""
    return torch.export.load(str(path)).module()


def _hyper_parameters(module: nn.Module) -> dict[str, Any]:
    hparams = getattr(module, "hparams", None)
    if not hparams or "pool" not in hparams:
        raise ValueError(
            f"module: save_pretrained needs a WSLModule (or its checkpoint); got {type(module).__name__}"
        )
    values = {k: v for k, v in dict(hparams).items() if not k.startswith("_")}
    from wsl.lit import REBUILD_OVERRIDES

    values.update(REBUILD_OVERRIDES)  # the weights are in the folder; never fetch at load time
    values["class_names"] = [str(name) for name in getattr(module, "class_names", [])]
    return values


def save_pretrained(
    module: nn.Module | str | os.PathLike[str],
    folder: str | os.PathLike[str],
    image_size: int | None = None,
    threshold: float | None = None,
) -> Path:
    """Write ``folder/config.json`` (architecture, classes, input size, threshold, normalisation) and
    ``folder/model.safetensors`` (the network's weights).

    Args:
        module: a :class:`~wsl.lit.WSLModule`, or a ``.ckpt`` of ``tools/train.py`` (then the image
            size and the best threshold default to the run's).
        folder: the output folder (created).
        image_size: the network input side stored for predictions (default: the run's, else unset).
        threshold: the box threshold stored for predictions (default: the run's best, else unset).

    Returns:
        ``folder``.

    Raises:
        ValueError: ``module`` is neither a WSLModule nor a readable checkpoint; a bad threshold.

    Example:
        >>> import tempfile
        >>> from wsl.lit import WSLModule
        >>> folder = save_pretrained(WSLModule(num_classes=2, pool="gap"), tempfile.mkdtemp(), 64, 0.3)
        >>> sorted(p.name for p in folder.iterdir())
        ['config.json', 'model.safetensors']
        >>> from_pretrained(folder).pretrained_config["threshold"]
        0.3
    """
    from safetensors.torch import save_file

    if not isinstance(module, nn.Module):
        from wsl.checkpoint import load_module

        ckpt = Path(module)
        module = load_module(ckpt)
        run = RunFolder.of_checkpoint(ckpt)
        if image_size is None:
            image_size = run.training_image_size(ckpt)[0]
        if threshold is None and run.results() is not None:
            threshold = run.best_threshold()[0]
    if threshold is not None:
        threshold = parse_threshold(threshold)
    hparams = _hyper_parameters(module)
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise ValueError(f"folder {str(root)!r} exists and is not a folder; pass a folder path")
    root.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in _net(module).state_dict().items()}
    with atomic_path(root / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp), metadata={"format": PRETRAINED_FORMAT})
    config = {
        "format": PRETRAINED_FORMAT,
        "version": PRETRAINED_VERSION,
        "hyper_parameters": hparams,
        "class_names": hparams["class_names"],
        "single_label": bool(hparams.get("single_label", False)),
        "image_size": image_size,
        "threshold": threshold,
        "input": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "layout": "NCHW RGB in [0, 1]"},
        "outputs": ["scores (N, C) logits", "class_maps (N, C, h, w)"],
    }
    write_json(root / CONFIG_NAME, config)
    return root


def from_pretrained(folder: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a :func:`save_pretrained` folder: a :class:`~wsl.lit.WSLModule` in eval mode, offline.

    The network is rebuilt from ``config.json`` (no weights are fetched) and the weights are read with
    ``safetensors`` (no pickle). ``module.pretrained_config`` holds the config (``image_size``,
    ``threshold``, ``class_names``), which :func:`wsl.jobs.predict.predict` uses.

    Raises:
        ValueError: the folder lacks either file, or they are not a wsl pretrained model.
    """
    from safetensors.torch import load_file

    from wsl.lit import REBUILD_OVERRIDES, WSLModule

    root = Path(folder)
    config_path, weights_path = root / CONFIG_NAME, root / WEIGHTS_NAME
    if not config_path.is_file() or not weights_path.is_file():
        raise ValueError(
            f"folder {str(root)!r} needs {CONFIG_NAME} and {WEIGHTS_NAME}; pass a folder written by "
            "wsl.serving.save_pretrained"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.get("format") != PRETRAINED_FORMAT:
            raise ValueError(f"format is {config.get('format')!r}, not {PRETRAINED_FORMAT!r}")
        hparams = dict(config["hyper_parameters"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"{config_path} is not a wsl pretrained config ({err}); pass a folder written by save_pretrained"
        ) from None
    hparams = _known_hyper_parameters(hparams, config, config_path, WSLModule)
    _check_config_values(config, config_path)
    hparams.update(REBUILD_OVERRIDES)
    module = WSLModule(**hparams)
    try:
        state = load_file(str(weights_path))
        module.net.load_state_dict(state, strict=True)
    except Exception as err:  # noqa: BLE001 - any unreadable or mismatched file gets one message
        raise ValueError(
            f"{weights_path} does not hold the weights of the network in {CONFIG_NAME} "
            f"({type(err).__name__}); save the folder again with save_pretrained"
        ) from None
    module.pretrained_config = config
    return module.to(map_location).eval()


#: The largest ``image_size`` a pretrained config may hold: far above any WSOL training size (224–448),
#: far below sizes whose one image would take gigabytes.
MAX_PRETRAINED_IMAGE_SIZE = 4096
#: The top-level keys of ``config.json`` that this version writes and reads; others (a newer writer's)
#: are ignored with one warning.
CONFIG_KEYS = frozenset(
    {"format", "version", "hyper_parameters", "class_names", "single_label", "image_size", "threshold"}
    | {"input", "outputs"}
)


def _known_hyper_parameters(
    hparams: dict[str, Any], config: dict[str, Any], config_path: Path, module_class: type
) -> dict[str, Any]:
    """Drop (with one warning naming them) the hyper-parameters ``module_class`` does not take: a folder
    written by a newer wsl must still load in an older one."""
    import inspect

    accepted = set(inspect.signature(module_class).parameters) - {"self"}
    unknown = sorted(set(hparams) - accepted)
    top = sorted(set(config) - CONFIG_KEYS)
    if unknown or top:
        names = [f"hyper_parameters.{k}" for k in unknown] + top
        warnings.warn(
            f"{config_path}: ignored keys this wsl does not know, e.g. written by a newer version: {names}",
            stacklevel=3,
        )
    return {k: v for k, v in hparams.items() if k in accepted}


def _check_config_values(config: dict[str, Any], config_path: Path) -> None:
    """``image_size``: None or an int in [1, :data:`MAX_PRETRAINED_IMAGE_SIZE`]; ``threshold``: None or a
    number in [0, 1]; ``class_names``: a list of distinct strings. Each error names the file and the field."""
    size = config.get("image_size")
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PRETRAINED_IMAGE_SIZE
    ):
        raise ValueError(
            f"{config_path}: image_size is {size!r}; expected null or an int from 1 to "
            f"{MAX_PRETRAINED_IMAGE_SIZE} (the network input side). Fix: set the training size, e.g. 224"
        )
    threshold = config.get("threshold")
    if threshold is not None:
        try:
            parse_threshold(threshold)
        except ValueError as err:
            raise ValueError(
                f"{config_path}: threshold: {err}. Fix: set a number in [0, 1) or null"
            ) from None
    names = config.get("class_names")
    if names is not None and (
        not isinstance(names, list)
        or not all(isinstance(n, str) for n in names)
        or len(set(names)) != len(names)
    ):
        raise ValueError(
            f"{config_path}: class_names must be a list of distinct strings; got {str(names)[:80]}"
        )
