"""A trained run, loaded once: the network and everything a job asks of it.

Every job (evaluate, export, score maps, predict) starts from a :class:`TrainedModel`:

- :meth:`TrainedModel.load` reads a ``.ckpt`` of ``tools/train.py`` (:func:`wsl.checkpoint.load_module`;
  its run folder gives the best threshold and the training image size), a
  :func:`wsl.serving.save_pretrained` folder (its ``config.json`` gives them) or takes a module in
  memory (a ``WSLModule``, a ``WSLNet`` or any module returning ``(scores, class_maps)``);
- :meth:`TrainedModel.from_classifier` takes any classifier returning logits (``timm:NAME``,
  ``torchvision:NAME`` or a module) with a post-hoc CAM method and a layer (:mod:`wsl.classifier_model`);
- it answers: :attr:`~TrainedModel.net` (the plain network, in eval mode on the device),
  :attr:`~TrainedModel.class_names`, :attr:`~TrainedModel.single_label`,
  :attr:`~TrainedModel.image_size`, :attr:`~TrainedModel.threshold` (the best MaxBoxAcc threshold when
  asked for), :meth:`~TrainedModel.autocast` (the training precision as an autocast context, the
  precision its ``results.json`` was computed in) and :meth:`~TrainedModel.datamodule` (a data spec read
  with the model's classes, in the model's order);
- where a value came from is said once, in :attr:`~TrainedModel.notes`, for the tool to print.

Only this module unwraps a ``WSLModule``: the jobs below it take the network.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wsl.runs import DEFAULT_IMAGE_SIZE, DEFAULT_THRESHOLD, RunFolder, parse_threshold, resolve_device

__all__ = [
    "AUTOCAST_DTYPES",
    "ModelSource",
    "TrainedModel",
    "autocast_for",
    "autocast_note",
    "datamodule_with_classes",
    "parse_class_names",
    "training_data",
]

#: Lightning's mixed precisions → the autocast dtype its forward ran under.
AUTOCAST_DTYPES = {
    "bf16-mixed": torch.bfloat16,
    "bf16": torch.bfloat16,
    "16-mixed": torch.float16,
    "16": torch.float16,
}

#: ``threshold`` values of :meth:`TrainedModel.load` that are not numbers.
THRESHOLD_CHOICES = ("best", "auto", None)


def autocast_note(precision: str | None, device: torch.device | str) -> str | None:
    """The one-line note a job logs when it runs under :func:`autocast_for` (None: fp32, no autocast).

    Example:
        >>> autocast_note("bf16-mixed", "cpu")  # doctest: +ELLIPSIS
        'note: evaluating under cpu bfloat16 autocast, the training precision (bf16-mixed) stored in ...'
        >>> autocast_note("32-true", "cpu") is None
        True
    """
    dtype = AUTOCAST_DTYPES.get(str(precision))
    if dtype is None:
        return None
    return (
        f"note: evaluating under {torch.device(device).type} {str(dtype).split('.')[-1]} autocast, the "
        f"training precision ({precision}) stored in the checkpoint"
    )


def autocast_for(precision: str | None, device: torch.device | str) -> Any:
    """The autocast context of a Lightning ``precision`` on ``device``; a null context for fp32 or unknown.

    Args:
        precision: the trainer precision the model was trained under (``"bf16-mixed"``, ``"32-true"`` …).
        device: where the forward runs (autocast is per device type).

    Example:
        >>> autocast_for("32-true", "cpu")  # doctest: +ELLIPSIS
        <contextlib.nullcontext object at ...>
    """
    dtype = AUTOCAST_DTYPES.get(str(precision))
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def datamodule_with_classes(
    class_names: Sequence[str],
    single_label: bool,
    data: str,
    declared: Sequence[str] | None = None,
    **kwargs: Any,
) -> Any:
    """A :class:`~wsl.data.WSLDataModule` on ``data`` that reads the classes ``class_names``, in that order.

    Without ``declared``, a dataset that declares its classes (a synthetic preset, COCO categories, a VOC
    ``classes.txt``) must hold ``class_names`` in any order; a VOC folder without ``classes.txt`` (which
    cannot say) is read with them. ``declared`` (the classes a user says the dataset has) must be
    ``class_names`` in any order.

    Args:
        class_names: the model's classes.
        single_label: the model's label mode (the default of the data module's ``single_label``).
        data: data spec.
        declared: the dataset's classes as the user declared them, or None.
        **kwargs: other :class:`~wsl.data.WSLDataModule` arguments (``image_size``, ``batch_size`` …).

    Raises:
        ValueError: the dataset (or ``declared``) has other classes than ``class_names``.
    """
    from wsl.data import VOC_CLASSES, WSLDataModule

    names = [str(n) for n in class_names]
    kwargs.setdefault("single_label", bool(single_label))
    if declared is not None:
        if sorted(declared) != sorted(names):
            raise ValueError(
                f"class_names {list(declared)} are not the checkpoint's classes {names} (any order "
                "is accepted); pass the classes the model was trained on"
            )
        return WSLDataModule(data=data, class_names=names, **kwargs)
    found = WSLDataModule(data, **kwargs)
    dataset_names = list(found.class_names)
    undeclared = found.kind == "voc" and dataset_names == list(VOC_CLASSES)
    if not undeclared and sorted(dataset_names) != sorted(names):
        raise ValueError(
            f"the checkpoint was trained on classes {names} but data {data!r} has classes "
            f"{dataset_names}; evaluate on the dataset the model was trained on, with the model's "
            "class_names"
        )
    return WSLDataModule(data, class_names=names, **kwargs)


def training_data(ckpt: str | os.PathLike[str], run: RunFolder) -> str | None:
    """The data spec a checkpoint's run was trained on: the checkpoint's
    ``datamodule_hyper_parameters.data`` (Lightning stores the data module's arguments), else ``data.data``
    of the run's ``config.yaml``, else None."""
    try:
        payload = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
        spec = (payload.get("datamodule_hyper_parameters") or {}).get("data")
    except Exception:  # noqa: BLE001 - unreadable here means "unknown"; loading has reported the file
        spec = None
    if not isinstance(spec, str) or not spec:
        spec = ((run.config() or {}).get("data") or {}).get("data")
    return spec if isinstance(spec, str) and spec else None


def parse_class_names(value: str | os.PathLike[str] | Sequence[str]) -> list[str]:
    """Class names from a list, a comma-separated string (``"dog,cat"``) or a file of one name a line.

    Raises:
        ValueError: no name is left, or a name is repeated.

    Example:
        >>> parse_class_names("dog, cat")
        ['dog', 'cat']
    """
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        path = Path(text)
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else text.split(",")
        names = [line.strip() for line in lines if line.strip()]
    else:
        names = [str(n) for n in value]
    if not names or len(set(names)) != len(names):
        raise ValueError(
            f"class_names {value!r} must name each class once (a list, 'a,b,c' or a file of one name a "
            f"line); got {names}"
        )
    return names


def _check_threshold(threshold: Any) -> float | str | None:
    """A number in [0, 1) as a float; ``"best"``, ``"auto"`` or None as they are; else ValueError."""
    if isinstance(threshold, bool):
        raise ValueError(f"threshold must be 'best', a number in [0, 1) or None; got {threshold!r}")
    if isinstance(threshold, (int, float)) or (
        isinstance(threshold, str) and threshold not in ("best", "auto")
    ):
        return parse_threshold(threshold)
    if threshold not in THRESHOLD_CHOICES:
        raise ValueError(f"threshold must be 'best', a number in [0, 1) or None; got {threshold!r}")
    return threshold


def _check_image_size(image_size: Any) -> None:
    if image_size is not None and (
        isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1
    ):
        raise ValueError(f"image_size must be a positive int or None; got {image_size!r}")


def _names_of(module: nn.Module, net: nn.Module, hparams: Mapping[str, Any]) -> list[str]:
    """The class names of a module: its own, else ``"0"``, ``"1"`` … from the number of classes."""
    names = getattr(module, "class_names", None)
    if names is not None:
        return [str(n) for n in names]
    num_classes = hparams.get("num_classes") or getattr(getattr(net, "head", None), "num_classes", None)
    if num_classes is None:
        raise ValueError(
            "model: cannot tell its classes; pass a WSLModule, a checkpoint or a save_pretrained folder"
        )
    return [str(c) for c in range(int(num_classes))]


@dataclass(frozen=True)
class TrainedModel:
    """A trained network with the settings its run implies (build it with :meth:`load`).

    Attributes:
        net: the plain network (``WSLNet``, or any module returning ``(scores (N, C), class_maps
            (N, C, h, w))``), in eval mode on :attr:`device`.
        class_names: the C class names, in the model's order.
        single_label: softmax (one class per image) instead of sigmoid probabilities.
        image_size: the network input side ``S`` (given, or the training size).
        threshold: the box threshold (given, or the run's best MaxBoxAcc one); None when not asked for.
        precision: the trainer precision the weights were trained (and tested) under, None if unknown.
        device: where the network is.
        hparams: the module's hyper-parameters (empty for a plain network).
        source: the checkpoint or folder it was read from (None: a module in memory).
        notes: one line per value that was not given, saying where it came from.
        data: the data spec the run was trained on (the checkpoint's data module hyper-parameters, else
            its run's ``config.yaml``), None when unknown (a folder or a module); see :meth:`data_spec`.
        cam_method: the post-hoc method whose maps are the CAMs of a classifier
            (:meth:`from_classifier`; its :attr:`net` returns logits and activations, no class maps);
            None: the network's own class maps.
        classes_by_index: the data's class label ``k`` is output ``k`` (a classifier): the data is read
            with its own classes, not matched by name with :attr:`class_names`.
        cam_layer: a classifier's layers when several are fused (``"a,b"``, names of its modules); None:
            the one layer of its :attr:`net`.
    """

    net: nn.Module
    class_names: list[str]
    single_label: bool
    image_size: int
    threshold: float | None
    precision: str | None
    device: torch.device
    hparams: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None
    notes: list[str] = field(default_factory=list)
    data: str | None = None
    cam_method: str | None = None
    classes_by_index: bool = False
    cam_layer: str | None = None

    @classmethod
    def load(
        cls,
        source: ModelSource,
        device: str | torch.device = "auto",
        image_size: int | None = None,
        threshold: float | str | None = None,
    ) -> TrainedModel:
        """Load a checkpoint or a ``save_pretrained`` folder (or wrap a module) and resolve its settings.

        Args:
            source: a ``.ckpt`` written by ``tools/train.py``, a :func:`wsl.serving.save_pretrained`
                folder, a module (``WSLModule``, ``WSLNet``, any module returning
                ``(scores, class_maps)``), or a :class:`TrainedModel` (a classifier of
                :meth:`from_classifier`), returned with a given ``image_size``, numeric ``threshold`` or
                device other than ``auto`` applied.
            device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (:func:`wsl.runs.resolve_device`).
            image_size: network input side; None: the training size (checkpoint, ``config.yaml`` or
                ``config.json``), else :data:`wsl.runs.DEFAULT_IMAGE_SIZE` with a note.
            threshold: a number in [0, 1); ``"best"``: the run's best MaxBoxAcc threshold
                (:meth:`wsl.runs.RunFolder.best_threshold`, which falls back to
                :data:`wsl.runs.DEFAULT_THRESHOLD` with a note, or the folder's ``config.json``); ``"auto"``:
                that, else :data:`~wsl.runs.DEFAULT_THRESHOLD` with a note; None: not resolved.

        Raises:
            ValueError: a missing or foreign checkpoint or folder, a bad threshold, image size or
                device, ``"best"`` for a module or folder that does not know its threshold.

        Example:
            >>> from wsl.models import WSLNet
            >>> model = TrainedModel.load(WSLNet(3, pool="gap"), device="cpu", image_size=64, threshold=0.5)
            >>> model.class_names, model.image_size, model.threshold, model.single_label
            (['0', '1', '2'], 64, 0.5, False)
        """
        wanted = _check_threshold(threshold)
        _check_image_size(image_size)
        if isinstance(source, TrainedModel):
            return source._reused(device, image_size, wanted)
        torch_device = resolve_device(device)
        notes: list[str] = []
        config: Mapping[str, Any] | None = None
        run: RunFolder | None = None
        path: Path | None = None
        if isinstance(source, nn.Module):
            module: nn.Module = source
            config = getattr(source, "pretrained_config", None)
        else:
            path = Path(source)
            if path.is_dir():
                from wsl.serving import from_pretrained

                module = from_pretrained(path)
                config = getattr(module, "pretrained_config", None)
            else:
                from wsl.checkpoint import load_module

                module = load_module(path)
                run = RunFolder.of_checkpoint(path)
        value = cls._resolve_threshold(wanted, run, config, notes)
        size = cls._resolve_image_size(image_size, run, path, config, notes)
        net = getattr(module, "net", module)
        hparams = dict(getattr(module, "hparams", None) or {})
        names = _names_of(module, net, hparams)
        return cls(
            net=net.to(torch_device).eval(),
            class_names=names,
            single_label=bool(hparams.get("single_label", False)),
            image_size=int(size),
            threshold=value,
            precision=getattr(module, "training_precision", None),
            device=torch_device,
            hparams=hparams,
            source=None if path is None else str(source),
            notes=notes,
            data=None if run is None or path is None else training_data(path, run),
        )

    def _reused(
        self, device: str | torch.device, image_size: int | None, wanted: float | str | None
    ) -> TrainedModel:
        """This model with what a job asks of it: a given image size or numeric threshold replaces its own,
        a device other than ``auto`` moves it; ``best``, ``auto`` or None keep its threshold (one it does
        not have is resolved as for a module in memory)."""
        changes: dict[str, Any] = {}
        notes = list(self.notes)
        if image_size is not None:
            changes["image_size"] = image_size
        if isinstance(wanted, float):
            changes["threshold"] = wanted
        elif self.threshold is None and wanted is not None:
            changes["threshold"] = self._resolve_threshold(wanted, None, None, notes)
        if str(device) != "auto" and resolve_device(device) != self.device:
            changes.update(device=resolve_device(device), net=self.net.to(resolve_device(device)))
        return replace(self, notes=notes, **changes) if changes else self

    @staticmethod
    def _resolve_threshold(
        wanted: float | str | None,
        run: RunFolder | None,
        config: Mapping[str, Any] | None,
        notes: list[str],
    ) -> float | None:
        if wanted is None or isinstance(wanted, float):
            return wanted
        if run is not None:
            value, note = run.best_threshold()
            notes.append(note)
            return value
        if config is not None and config.get("threshold") is not None:
            value = parse_threshold(config["threshold"])
            notes.append(f"threshold {value:.3f} from the model's config.json")
            return value
        if wanted == "best":
            raise ValueError(
                "threshold='best' needs the run's results.json: pass the checkpoint path or a "
                "save_pretrained folder instead of a module, or a number in [0, 1)"
            )
        notes.append(f"note: no threshold given; using {DEFAULT_THRESHOLD}")
        return DEFAULT_THRESHOLD

    @staticmethod
    def _resolve_image_size(
        image_size: int | None,
        run: RunFolder | None,
        path: Path | None,
        config: Mapping[str, Any] | None,
        notes: list[str],
    ) -> int:
        if image_size is not None:
            return image_size
        if run is not None:
            size, note = run.training_image_size(path)
        elif config is not None and config.get("image_size"):
            size = int(config["image_size"])
            note = f"image size {size} from the model's config.json"
        else:
            size, note = DEFAULT_IMAGE_SIZE, f"note: training image size unknown; using {DEFAULT_IMAGE_SIZE}"
        notes.append(note)
        return size

    @classmethod
    def from_classifier(cls, model: nn.Module | str, options: Any = None, **fields: Any) -> TrainedModel:
        """Any classifier whose forward returns logits, as a model whose CAMs are a post-hoc method's.

        See :func:`wsl.classifier_model.classifier_model` (``options``: a
        :class:`~wsl.classifier_model.ClassifierOptions`; ``fields`` replace its fields by name).

        Example:
            >>> import timm
            >>> net = timm.create_model("resnet18", pretrained=False, num_classes=3)
            >>> model = TrainedModel.from_classifier(net, method="gradcam", layer="layer3", device="cpu")
            >>> model.class_names, model.cam_method, model.net.layer, model.threshold
            (['0', '1', '2'], 'gradcam', 'layer3', 0.5)
        """
        from wsl.classifier_model import classifier_model

        return classifier_model(model, options, **fields)

    def cam_source(self, method: str = "native", layer: str | None = None) -> tuple[str, str | None]:
        """The ``(cam_method, cam_layer)`` a job runs on :attr:`net` for a request of ``(method, layer)``.

        A network with class maps of its own takes the request as it is. A classifier
        (:attr:`cam_method` set) has none: ``native`` means its own method, another post-hoc method is
        computed on the same layer (``layer`` None: the layer it was built on, the ``backbone`` of its
        :class:`~wsl.cam.ClassifierCAM`; several fused layers: :attr:`cam_layer`).

        Raises:
            ValueError: a classifier asked for another layer (its layer is chosen when it is built).
        """
        if self.cam_method is None:
            return method, layer
        if layer is not None and layer not in ("backbone", self.cam_layer):
            raise ValueError(
                f"cam_layer={layer!r}: the classifier's CAM layer is chosen when it is built "
                f"({getattr(self.net, 'layer', '?')!r}); pass it as layer= to TrainedModel.from_classifier "
                "(the tools' --cam-layer with --model)"
            )
        return (self.cam_method if method == "native" else method), self.cam_layer

    @property
    def num_classes(self) -> int:
        """C, the number of classes."""
        return len(self.class_names)

    @property
    def frame(self) -> str:
        """The evaluation frame the model was trained and tested in (``original`` or ``wsolevaluation``)."""
        return str(self.hparams.get("protocol", "original"))

    @property
    def name(self) -> str:
        """``"<pool> / <backbone>"`` for a ``WSLModule``'s network, a classifier's name (``timm:NAME``, else
        its class name), else the network's class name."""
        if "pool" in self.hparams and "backbone" in self.hparams:
            return f"{self.hparams['pool']} / {self.hparams['backbone']}"
        if self.cam_method is not None:
            return self.source or type(getattr(self.net, "classifier", self.net)).__name__
        return type(self.net).__name__

    def autocast(self) -> Any:
        """The autocast context of the training precision on :attr:`device` (:func:`autocast_for`)."""
        return autocast_for(self.precision, self.device)

    @property
    def autocast_note(self) -> str | None:
        """The note saying that :meth:`autocast` runs a mixed precision (:func:`autocast_note`; None: fp32),
        for the job to log or keep."""
        return autocast_note(self.precision, self.device)

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        """A batch of network inputs on :attr:`device`, in the memory format the model was trained in
        (NHWC when its ``channels_last`` hyper-parameter is set, as ``WSLModule.forward`` feeds it)."""
        images = images.to(self.device, non_blocking=True)
        if self.hparams.get("channels_last"):
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` logits → probabilities: softmax for a single-label model, else sigmoid."""
        return logits.softmax(dim=1) if self.single_label else logits.sigmoid()

    def data_spec(self, data: str | None) -> tuple[str, str | None]:
        """The data spec to read: ``data`` when given, else the one the run was trained on.

        Returns:
            ``(spec, note)``: the note says where the spec came from (None when it was given).

        Raises:
            ValueError: no ``data`` and the model does not record its training data (a ``save_pretrained``
                folder, a module, or a checkpoint without its data module's hyper-parameters and
                ``config.yaml``): a dataset is never guessed, as one whose class names happen to match
                would be scored without a word.
        """
        if data is not None:
            return data, None
        if self.data is None:
            raise ValueError(
                f"data: not given, and {self.source or 'the model'} does not record the data it was "
                "trained on; pass the data spec (--data), e.g. voc:PATH or wsol:CUB:PATH"
            )
        return self.data, f"data {self.data} (the training data recorded in {self.source})"

    def datamodule(
        self, data: str, class_names: str | os.PathLike[str] | Sequence[str] | None = None, **kwargs: Any
    ) -> Any:
        """A :class:`~wsl.data.WSLDataModule` on ``data`` read with the model's classes, in its order
        (:func:`datamodule_with_classes`); ``class_names``: the dataset's classes as declared
        (:func:`parse_class_names`), None: its own declaration; ``image_size`` defaults to
        :attr:`image_size`."""
        kwargs.setdefault("image_size", self.image_size)
        declared = parse_class_names(class_names) if class_names is not None else None
        if self.classes_by_index:
            return self._indexed_datamodule(data, declared, **kwargs)
        return datamodule_with_classes(self.class_names, self.single_label, data, declared, **kwargs)

    def _indexed_datamodule(self, data: str, declared: list[str] | None, **kwargs: Any) -> Any:
        """The data module of a classifier: the data's own classes, whose label ``k`` is output ``k``."""
        from wsl.data import WSLDataModule

        kwargs.setdefault("single_label", self.single_label)
        dm = WSLDataModule(data, class_names=declared, **kwargs)
        if dm.num_classes > self.num_classes:
            raise ValueError(
                f"data {data!r} has {dm.num_classes} classes but the classifier {self.name} has "
                f"{self.num_classes} outputs; the data's class label k is the classifier's output k, so pass "
                "data labelled with the classifier's class indices (as wsol:ILSVRC is for ImageNet)"
            )
        return dm


#: What :meth:`TrainedModel.load` accepts: a checkpoint file, a ``save_pretrained`` folder, a module, or a
#: model already built (:meth:`TrainedModel.from_classifier`), taken as it is.
ModelSource = str | os.PathLike[str] | nn.Module | TrainedModel
