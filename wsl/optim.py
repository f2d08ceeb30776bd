"""Optimizers and learning-rate schedules of :class:`~wsl.lit.WSLModule`: named recipes or any torch class.

``model.optimizer`` is a name of :data:`OPTIMIZERS` (``adamw``, ``sgd``) or any ``torch.optim`` class given
as LightningCLI's ``OptimizerCallable``::

    model:
      optimizer:
        class_path: torch.optim.SGD
        init_args: {momentum: 0.9, nesterov: true}

``model.scheduler`` is a name of :data:`SCHEDULERS` (``cosine``, ``step``, ``wsolevaluation``, ``none``)
or any ``torch.optim.lr_scheduler`` class as an ``LRSchedulerCallable``
(``class_path: torch.optim.lr_scheduler.StepLR``).

Either way the optimizer gets wsl's two parameter groups (:meth:`WSLModule.configure_optimizers`): the
backbone at ``model.backbone_lr`` and the head (plus the last ``head_lr_stages`` stages) at ``model.lr``.
Rules for a class:

- the learning rates are always ``model.lr`` / ``model.backbone_lr`` and the weight decay
  ``model.weight_decay``: each group carries its ``lr`` and ``weight_decay``, which override the optimizer's
  defaults, so that ``config.yaml`` shows what was used; an ``init_args.lr`` or ``init_args.weight_decay``
  other than the class's default is refused, naming the ``model.`` option to set;
- everything else (momentum, betas, ...) is the class's ``init_args``;
- a class scheduler steps once per epoch (Lightning's default interval); ``ReduceLROnPlateau`` watches
  ``val/loss`` and skips the epochs without validation.

The named recipes, with ``w = model.weight_decay``:

- ``adamw``: ``AdamW(groups, weight_decay=w)``;
- ``sgd``: ``SGD(groups, momentum=0.9, nesterov=True, weight_decay=w)`` (L2 weight decay).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from wsl.registry import Registry

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "ScheduleContext",
    "build_optimizer",
    "build_scheduler",
    "check_spec",
    "describe_spec",
]

Groups = list[dict[str, Any]]


#: name → ``build(groups, weight_decay) -> Optimizer``.
OPTIMIZERS: Registry[Callable[[Groups, float], torch.optim.Optimizer]] = Registry(
    "optimizer", what="model.optimizer"
)


@OPTIMIZERS.register("adamw")
def _adamw(groups: Groups, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, weight_decay=weight_decay)


@OPTIMIZERS.register("sgd")
def _sgd(groups: Groups, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, momentum=0.9, nesterov=True, weight_decay=weight_decay)


@dataclass(frozen=True)
class ScheduleContext:
    """What the named schedules read: ``step_epochs``, ``gamma``, ``warmup_epochs`` (module options),
    ``total_steps()`` (Lightning's ``estimated_stepping_batches``, asked only by ``cosine``)
    and ``epochs``."""

    step_epochs: int
    gamma: float
    warmup_epochs: float
    total_steps: Callable[[], int]
    epochs: int


#: name → ``build(optimizer, context) -> Lightning lr_scheduler dict, or None (constant rate)``.
SCHEDULERS: Registry[Callable[[torch.optim.Optimizer, ScheduleContext], dict | None]] = Registry(
    "scheduler", what="model.scheduler"
)


@SCHEDULERS.register("cosine")
def _cosine(optimizer: torch.optim.Optimizer, ctx: ScheduleContext) -> dict:
    """Per step: linear warm-up (s + 1)/(W + 1) for s < W, then ½(1 + cos(π · min(1, (s − W)/(T − W))))."""
    total = max(1, int(ctx.total_steps()))
    epochs = max(1, ctx.epochs)
    warmup = min(total - 1, int(total * ctx.warmup_epochs / epochs))

    def cosine_with_warmup(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    cosine = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup)
    return {"scheduler": cosine, "interval": "step"}


@SCHEDULERS.register("step")
def _step(optimizer: torch.optim.Optimizer, ctx: ScheduleContext) -> dict:
    """torch's ``StepLR``: ×gamma after every ``step_epochs`` epochs."""
    step = torch.optim.lr_scheduler.StepLR(optimizer, step_size=ctx.step_epochs, gamma=ctx.gamma)
    return {"scheduler": step, "interval": "epoch"}


@SCHEDULERS.register("wsolevaluation")
def _wsolevaluation(optimizer: torch.optim.Optimizer, ctx: ScheduleContext) -> dict:
    """lr · gamma^floor(E / step_epochs) during the 1-based epoch E (wsolevaluation's
    ``adjust_learning_rate``).

    LambdaLR's counter is the 0-based epoch e = E − 1, stepped by Lightning after each epoch.
    """
    factor, every = ctx.gamma, ctx.step_epochs
    rule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: factor ** ((e + 1) // every))
    return {"scheduler": rule, "interval": "epoch"}


@SCHEDULERS.register("none")
def _none(optimizer: torch.optim.Optimizer, ctx: ScheduleContext) -> dict | None:
    return None


def _from_class_path(spec: dict, field: str) -> Callable:
    """``{class_path, init_args}`` → ``functools.partial(cls, **init_args)``."""
    path, init_args = spec.get("class_path"), spec.get("init_args") or {}
    if not isinstance(path, str) or "." not in path or not isinstance(init_args, dict):
        raise ValueError(
            f"model.{field}: got {spec!r}; expected a name or "
            "{class_path: module.Class, init_args: {...}}"
        )
    module_name, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        raise ValueError(f"model.{field}: class_path {path!r} does not name an importable class") from None
    return functools.partial(cls, **init_args)


def _target_class(fn: Callable) -> type | None:
    """The class a callable builds: the class itself, or the class inside a (jsonargparse) partial."""
    if isinstance(fn, type):
        return fn
    if isinstance(fn, functools.partial):
        if isinstance(fn.func, type):
            return fn.func
        return next((a for a in reversed(fn.args) if isinstance(a, type)), None)
    return None


def check_spec(spec: Any, field: str) -> Any:
    """Validate ``model.optimizer`` / ``model.scheduler`` (``field``): a known name, a callable, or a
    ``{class_path, init_args}`` dict (a stored checkpoint's form, turned into a callable). Returns the spec.

    Example:
        >>> check_spec("adam", "optimizer")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: model.optimizer: got 'adam' (did you mean 'adamw'?); expected one of ['adamw', 'sgd'] ...
    """
    names = OPTIMIZERS if field == "optimizer" else SCHEDULERS
    if isinstance(spec, str):
        example = "torch.optim.Adam" if field == "optimizer" else "torch.optim.lr_scheduler.StepLR"
        names.lookup(spec, usage=f"or a class: {{class_path: {example}, init_args: {{...}}}}")
        return spec
    if isinstance(spec, dict):
        spec = _from_class_path(spec, field)
    if not callable(spec):
        raise ValueError(f"model.{field}: got {spec!r}; expected a name of {list(names)} or a class_path")
    if field == "optimizer":
        _check_group_settings(spec)
    return spec


#: Optimizer arguments that wsl sets per parameter group, and the module options that give them.
GROUP_SETTINGS = {
    "lr": "model.lr (head) and model.backbone_lr (backbone)",
    "weight_decay": "model.weight_decay",
}


def _check_group_settings(fn: Callable) -> None:
    """Refuse an ``init_args`` value of :data:`GROUP_SETTINGS` that differs from the class's default."""
    cls = _target_class(fn)
    if cls is None or not isinstance(fn, functools.partial):
        return
    parameters = inspect.signature(cls).parameters
    for name, options in GROUP_SETTINGS.items():
        given, default = fn.keywords.get(name), parameters.get(name)
        if given is not None and default is not None and given != default.default:
            raise ValueError(
                f"model.optimizer.init_args.{name}: got {given!r}; wsl sets {name} for each parameter group "
                f"from {options}: set that instead"
            )


def describe_spec(spec: Any) -> Any:
    """A spec as plain data for the checkpoint's hyper-parameters: names and dicts as they are, a callable as
    ``{class_path, init_args}`` (so checkpoints load with ``torch.load(weights_only=True)``)."""
    if isinstance(spec, str | dict) or not callable(spec):
        return spec
    cls = _target_class(spec) or spec
    init_args = dict(spec.keywords) if isinstance(spec, functools.partial) else {}
    path = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', repr(cls))}"
    return {"class_path": path, "init_args": init_args}


def build_optimizer(spec: Any, groups: Groups, weight_decay: float) -> torch.optim.Optimizer:
    """The optimizer over ``groups`` (each with its ``lr``): a named recipe, or ``spec(groups)`` with
    ``weight_decay`` in every group."""
    if isinstance(spec, str):
        return OPTIMIZERS[spec](groups, weight_decay)
    return spec([{**group, "weight_decay": weight_decay} for group in groups])


def build_scheduler(spec: Any, optimizer: torch.optim.Optimizer, ctx: ScheduleContext) -> dict | None:
    """Lightning's ``lr_scheduler`` dict for ``optimizer`` (None: a constant rate)."""
    if isinstance(spec, str):
        return SCHEDULERS[spec](optimizer, ctx)
    scheduler = spec(optimizer)
    config: dict[str, Any] = {"scheduler": scheduler, "interval": "epoch"}
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        config.update(monitor="val/loss", strict=False)
    return config
