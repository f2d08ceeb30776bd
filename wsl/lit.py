"""The LightningModule: image-level training of a WSLNet, classification + localization evaluation."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from wsl.evaluation import LocalizationEvaluator
from wsl.methods import get_method
from wsl.models import NET_ARGS  # NET_ARGS: WSLModule's network arguments, WSLNet's flat ones
from wsl.optim import (
    OPTIMIZERS,
    SCHEDULERS,
    ScheduleContext,
    build_optimizer,
    build_scheduler,
    check_spec,
    describe_spec,
)

__all__ = ["OPTIMIZERS", "SCHEDULERS", "TrainingDiverged", "WSLModule", "check_finite_loss", "check_options"]

#: Overrides of the stored hyper-parameters that rebuild a trained network without reading its initial
#: weights again (its state dict holds every weight): no pretrained download or file, no classifier copy.
REBUILD_OVERRIDES = {"pretrained": False, "head_init": "default"}


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite: the run stops, with no test and no ``results.json``."""


def check_finite_loss(loss: torch.Tensor, step: int, epoch: int, lr: float, world_size: int = 1, reduce=None):
    """Raise :class:`TrainingDiverged` when ``loss`` is NaN or infinite (on any process, with ``reduce``).

    Checked before the backward pass, so the weights are never updated from a non-finite loss.

    Args:
        loss: the training loss of this step (a scalar).
        step, epoch: where the run is (for the message).
        lr: the configured ``lr`` (for the hint).
        world_size: the number of processes.
        reduce: ``reduce(bad) -> bool``, true on every process when any process saw a non-finite loss
            (Lightning's ``strategy.reduce_boolean_decision(bad, all=False)``), so that all stop together.
    """
    bad = not bool(torch.isfinite(loss.detach()).all())
    if world_size > 1 and reduce is not None:
        bad = bool(reduce(bad))
    if bad:
        value = float(loss.detach().float().reshape(-1)[0])
        raise TrainingDiverged(
            f"training diverged: the training loss is {value} at step {step} (epoch {epoch}) on at least one "
            f"process; the run is stopped without testing or results.json. Lower the learning rate "
            f"(--model.lr {lr:g}, e.g. --model.lr {lr / 10:g}) or clip the gradients "
            "(--trainer.gradient_clip_val 1.0)"
        )


def _check_number(
    name: str,
    value,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    none_ok: bool = False,
) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite number in the given range."""
    if value is None and none_ok:
        return
    kind = (int,) if integer else (int, float)
    ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open or high == math.inf else "]"
        what = "an int" if integer else "a finite number"
        span = f"{left}{low:g}, {'inf' if high == math.inf else f'{high:g}'}{right}"
        raise ValueError(f"{name}: got {value!r}; expected {what} in {span}{' or None' if none_ok else ''}")


#: The accepted range of each numeric option of :class:`WSLModule`: ``_check_number``'s arguments after the
#: value (low, high, and its flags); ``backbone_lr`` 0 is a frozen backbone, None means ``lr``.
NUMERIC_OPTIONS: dict[str, dict[str, Any]] = {
    "num_classes": {"low": 1, "integer": True},
    "num_maps": {"low": 1, "integer": True},
    "lr": {"low": 0, "low_open": True},
    "backbone_lr": {"low": 0, "none_ok": True},
    "weight_decay": {"low": 0},
    "warmup_epochs": {"low": 0},
    "step_epochs": {"low": 1, "integer": True},
    "gamma": {"low": 0, "high": 1, "low_open": True},
    "cam_curve_interval": {"low": 0, "high": 1, "low_open": True, "high_open": True, "none_ok": True},
    "cam_threshold": {"low": 0, "high": 1, "high_open": True, "none_ok": True},
}


def check_options(**values: Any) -> None:
    """Validate :class:`WSLModule`'s numeric options by :data:`NUMERIC_OPTIONS`: each a ``ValueError`` naming
    the option, the value and the accepted range (``--model.lr -1`` would otherwise run gradient ascent and
    exit 0).

    Example:
        >>> check_options(lr=-1.0)
        Traceback (most recent call last):
        ...
        ValueError: lr: got -1.0; expected a finite number in (0, inf)
    """
    for name, value in values.items():
        if name not in NUMERIC_OPTIONS:
            raise TypeError(f"check_options: unknown option {name!r}; known: {sorted(NUMERIC_OPTIONS)}")
        _check_number(name, value, **NUMERIC_OPTIONS[name])


class WSLModule(pl.LightningModule):
    """Trains a :class:`~wsl.models.WSLNet` from image-level labels only.

    Loss: multi-label BCE-with-logits on the pooled scores (VOC/COCO) or softmax cross-entropy
    (single-label), plus the pooling head's regulariser (AutoPool's RAP term λ‖α‖²). A WSOL training
    method (:mod:`wsl.methods`) builds the network and turns a training batch into that loss; the
    eval forward is ``(scores, class_maps)`` for every method.
    Validation and test stream every metric of :class:`~wsl.evaluation.LocalizationEvaluator` and log
    them as ``val/<name>`` and ``test/<name>`` (fractions in [0, 1]).

    Args:
        num_classes: C (linked from the data module by the CLI).
        class_names: names of the C classes (linked from the data module).
        backbone, pool, pool_kwargs, num_maps, out_index, pretrained: see :class:`~wsl.models.WSLNet`.
        output_stride, softpool_stem, img_size, large_feature_map, head_init: see :class:`~wsl.models.WSLNet`
            (``large_feature_map`` true/false: wsolevaluation's stride-1-without-dilation ResNet, 28×28 /
            14×14 at 224 px; ``head_init`` ``pretrained_fc``: the 1×1 head starts as the pretrained ImageNet
            classifier).
        cam_flips: see :class:`~wsl.models.WSLNet` (``cam_flips``: class maps averaged over flipped views
            at validation, test and every tool that reads the checkpoint; the main job uses ``hv``).
        single_label: use cross-entropy and top-1 metrics (linked from the data module).
        optimizer: ``adamw``, ``sgd`` (momentum 0.9, nesterov) or any ``torch.optim`` class
            (``{class_path: torch.optim.SGD, init_args: {...}}``, LightningCLI's ``OptimizerCallable``), given
            wsl's parameter groups; see :mod:`wsl.optim` for the rules.
        lr: learning rate of the head (1×1 conv and pooling parameters).
        backbone_lr: learning rate of the backbone (default: ``lr``; WILDCAT uses lr/10 with pretrained
            backbones).
        weight_decay: decoupled (AdamW) or L2 (SGD) weight decay; with an optimizer class, each parameter
            group's ``weight_decay``.
        scheduler: ``cosine`` (per step, with linear warm-up), ``step`` (torch's ``StepLR``: ×``gamma``
            after every ``step_epochs`` epochs), ``wsolevaluation`` or ``none``. ``wsolevaluation`` is
            wsolevaluation's ``adjust_learning_rate(epoch + 1)`` (its ``main.py:337-340``, ``:367-371``):
            ×``gamma`` at the start of every 1-based epoch E divisible by ``step_epochs``, so that during
            epoch E the rate is ``lr · gamma^floor(E / step_epochs)``. The two differ by one epoch: with
            ``step_epochs=3`` ``wsolevaluation`` decays before epochs 3, 6, 9 (two full-rate epochs) and
            ``step`` before epochs 4, 7, 10 (three). Or any ``torch.optim.lr_scheduler`` class
            (``LRSchedulerCallable``), stepped once per epoch.
        warmup_epochs: linear warm-up length for ``cosine``.
        cam_curve_interval: threshold grid step of the localization metrics (None: the protocol's
            default, 0.01 ``original`` / 0.001 ``wsolevaluation``).
        protocol: evaluation frame of validation and test, ``original`` (each image's own size) or
            ``wsolevaluation`` (wsolevaluation's 224×224 frame; SPEC section 3, :mod:`wsl.cam.frames`).
        method: the WSOL training method, a name of :data:`wsl.methods.METHODS` (``cam`` = plain CAM,
            ``has``, ``cutmix``, ``adl``, ``acol``).
        method_kwargs: that method's options (``wsl.methods.method_kwargs(name)`` lists them).
        head_lr_stages: the last N feature stages of the backbone (up to ``out_index``) train at the
            head's ``lr``, the earlier ones at ``backbone_lr`` (wsolevaluation trains ResNet50's last
            stage with the classifier at 10× the backbone's lr: ``head_lr_stages=1``).
        channels_last: run the network in NHWC memory format (faster convolutions under mixed precision
            on CPUs with AVX512-BF16/AMX and on GPUs with tensor cores).
        cam_threshold: a CAM threshold in [0, 1) (single-label data): the test also reports GT-known /
            Top-1 / Top-5 Loc at it and Top-5 Cls (``test/gt_known_loc_at_t``, ...;
            :mod:`wsl.metrics.fixed_loc`), the fixed-threshold dialect of the papers after 2021; None (the
            default): not reported.
    """

    def __init__(  # noqa: PLR0913 (LightningCLI builds the --model.* flags from this signature)
        self,
        num_classes: int = 6,
        class_names: list[str] | None = None,
        backbone: str = "lcnet_050",
        pool: str = "weldon",
        pool_kwargs: dict | None = None,
        num_maps: int = 1,
        out_index: int = 3,
        pretrained: bool | str = False,
        output_stride: int | None = None,
        softpool_stem: bool = False,
        img_size: int | None = None,
        large_feature_map: bool | None = None,
        head_init: str = "default",
        single_label: bool = False,
        optimizer: str | OptimizerCallable = "adamw",
        lr: float = 2e-2,
        backbone_lr: float | None = None,
        weight_decay: float = 1e-4,
        scheduler: str | LRSchedulerCallable = "cosine",
        warmup_epochs: float = 1.0,
        step_epochs: int = 30,
        gamma: float = 0.1,
        cam_curve_interval: float | None = 0.01,
        channels_last: bool = True,
        protocol: str = "original",
        method: str = "cam",
        method_kwargs: dict | None = None,
        head_lr_stages: int = 0,
        cam_flips: str = "none",
        cam_threshold: float | None = None,
    ) -> None:
        super().__init__()
        check_options(
            num_classes=num_classes,
            num_maps=num_maps,
            lr=lr,
            backbone_lr=backbone_lr,
            weight_decay=weight_decay,
            warmup_epochs=warmup_epochs,
            step_epochs=step_epochs,
            gamma=gamma,
            cam_curve_interval=cam_curve_interval,
            cam_threshold=cam_threshold,
        )
        if cam_threshold is not None and not single_label:
            raise ValueError(
                f"cam_threshold: got {cam_threshold!r} with multi-label data; the fixed-threshold scores are "
                "single-label (data.single_label true): drop --model.cam_threshold"
            )
        #: ``model.optimizer`` / ``model.scheduler``: a name or a callable (:mod:`wsl.optim`).
        self.optimizer_spec = check_spec(optimizer, "optimizer")
        self.scheduler_spec = check_spec(scheduler, "scheduler")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names but num_classes={num_classes}")
        if not isinstance(head_lr_stages, int) or head_lr_stages < 0:
            raise ValueError(f"head_lr_stages must be an int >= 0; got {head_lr_stages!r}")
        #: The WSOL training method (holds options only; its parameters, if any, live in ``net``).
        self.wsol_method = get_method(method, **(method_kwargs or {}))
        self.save_hyperparameters()
        for name in ("optimizer", "scheduler"):  # LightningCLI stores its config; plain Python the callable
            self.hparams[name] = describe_spec(self.hparams[name])
        self.class_names = list(class_names) if class_names else [str(c) for c in range(num_classes)]
        self.net = self.wsol_method.build_net(**{name: self.hparams[name] for name in NET_ARGS})
        # Fails at construction, not at the first optimizer step, when N exceeds the stage count.
        self.net.backbone.split_last_stages(head_lr_stages)
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.val_metrics = LocalizationEvaluator(
            num_classes, single_label, cam_curve_interval, protocol=protocol
        )
        self.test_metrics = LocalizationEvaluator(
            num_classes, single_label, cam_curve_interval, protocol=protocol, cam_threshold=cam_threshold
        )

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores (N, C), class_maps (N, C, h, w))``."""
        return self.net(self._format(images))

    def _format(self, images: torch.Tensor) -> torch.Tensor:
        return (
            images.contiguous(memory_format=torch.channels_last) if self.hparams["channels_last"] else images
        )

    def loss(self, scores: torch.Tensor, labels: torch.Tensor, pool: nn.Module | None = None) -> torch.Tensor:
        """Data loss of ``scores`` (N, C) against multi-hot ``labels`` (N, C), plus the regulariser of
        ``pool`` (default: the network's pooling head; ACoL's second head passes its own)."""
        scores = scores.float()
        if self.hparams["single_label"]:
            data_loss = F.cross_entropy(scores, labels.argmax(dim=1))
        else:
            data_loss = F.binary_cross_entropy_with_logits(scores, labels.float())
        return data_loss + (self.net.pool if pool is None else pool).regularization_loss()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        images = self._format(batch["image"])
        loss = self.wsol_method.training_loss(self.net, images, batch["labels"], self.loss)
        self._check_divergence(loss)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(images))
        return loss

    def _check_divergence(self, loss: torch.Tensor) -> None:
        trainer = self._trainer  # None when the step is called outside a Trainer
        if trainer is None:
            check_finite_loss(loss, 0, 0, self.hparams["lr"])
            return
        check_finite_loss(
            loss,
            trainer.global_step,
            trainer.current_epoch,
            self.hparams["lr"],
            trainer.world_size,
            lambda bad: trainer.strategy.reduce_boolean_decision(bad, all=False),
        )

    def _eval_step(self, batch: dict, evaluator: LocalizationEvaluator, stage: str) -> None:
        scores, class_maps = self(batch["image"])
        self.log(f"{stage}/loss", self.loss(scores, batch["labels"]), batch_size=len(scores), sync_dist=True)
        evaluator.update(scores, class_maps, batch)

    def _eval_epoch_end(self, evaluator: LocalizationEvaluator, stage: str) -> None:
        # The evaluator keeps its state until the next epoch starts, so that callers can read
        # ``test_metrics.curves()`` after ``trainer.test``.
        for name, value in evaluator.compute().items():
            self.log(f"{stage}/{name}", value, prog_bar=name in ("map", "maxboxacc"), sync_dist=False)

    def on_validation_epoch_start(self) -> None:
        self.val_metrics.reset()

    def on_test_epoch_start(self) -> None:
        self.test_metrics.reset()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end(self.val_metrics, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end(self.test_metrics, "test")

    def predict_step(self, batch: dict | torch.Tensor, batch_idx: int) -> dict:
        """``trainer.predict``: ``{"scores": (B, C), "class_maps": (B, C, h, w)}`` on the CPU, plus the
        batch's ``image_id`` and ``orig_size`` when it has them (a collated dict or an image tensor).

        Under DDP each rank predicts its own shard of the data module's non-padding sampler, so every image
        is predicted exactly once (tests/reliability/test_distributed.py); gather or write per rank.
        For CAMs at the image size pass the outputs to :meth:`wsl.cam.CamBatch.from_output`.
        """
        images = batch["image"] if isinstance(batch, dict) else batch
        scores, class_maps = self(images)
        out: dict = {"scores": scores.detach().float().cpu(), "class_maps": class_maps.detach().float().cpu()}
        if isinstance(batch, dict):
            out.update({key: batch[key] for key in ("image_id", "orig_size") if key in batch})
        return out

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # ``evaluate --ckpt`` runs the forward in this precision, so that it scores what training did.
        checkpoint["precision"] = str(self.trainer.precision)

    def configure_optimizers(self):
        hp = self.hparams
        head_lr = hp.lr
        early, late = self.net.backbone.split_last_stages(hp.get("head_lr_stages", 0))
        in_backbone = {id(p) for p in self.net.backbone.parameters()}
        # A network may put some of its own layers in the base group (wsolevaluation's ResNet50 ACoL
        # classifiers match none of its "classifier" patterns): ``net.base_lr_parameters()``.
        base_extra = list(getattr(self.net, "base_lr_parameters", list)())
        moved = {id(p) for p in base_extra}
        # The head group: everything else outside the backbone (ACoL's second head too) + the late stages.
        heads = [p for p in self.net.parameters() if id(p) not in in_backbone and id(p) not in moved]
        groups = [
            {"params": early + base_extra, "lr": head_lr if hp.backbone_lr is None else hp.backbone_lr},
            {"params": late + heads, "lr": head_lr},
        ]
        optimizer = build_optimizer(self.optimizer_spec, groups, hp.weight_decay)
        context = ScheduleContext(
            step_epochs=hp.step_epochs,
            gamma=hp.gamma,
            warmup_epochs=hp.warmup_epochs,
            total_steps=lambda: self.trainer.estimated_stepping_batches,
            epochs=(self.trainer.max_epochs or 1) if self._trainer is not None else 1,
        )
        scheduler = build_scheduler(self.scheduler_spec, optimizer, context)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
