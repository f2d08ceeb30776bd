"""The training command line: LightningCLI over WSLModule and WSLDataModule.

``python tools/train.py --pool weldon`` trains on the synthetic default, tests the best checkpoint on the
held-out split, prints a summary table and writes ``results.json`` next to the checkpoints.
``--checkpoint_select best|last`` and ``--checkpoint_monitor NAME`` choose the tested checkpoint;
``--test_protocols`` the evaluation frames of the test (``auto``: both frames for ``wsol:`` data, only
the configured ``--model.protocol`` otherwise), one table each. Every
Lightning trainer flag works (``--trainer.devices 4 --trainer.strategy ddp --trainer.precision
bf16-mixed``), and ``--print_config`` / ``--config FILE`` round-trip the whole configuration.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch
from pytorch_lightning import Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.utilities.exceptions import MisconfigurationException, SIGTERMException

from wsl.checkpoint import (
    AtomicCheckpointIO,
    CheckpointWriteError,
    LastCheckpoint,
    SaveOnSigterm,
    check_resumable,
    read_checkpoint,
)
from wsl.config_files import check_config_files
from wsl.data import WSLDataModule
from wsl.lightning_package import check_lightning_object, check_lightning_paths
from wsl.lit import TrainingDiverged, WSLModule
from wsl.metrics import format_table
from wsl.runs import check_new_run, check_writable_dir, lock_run_dir, write_json, write_text
from wsl.versions import machine, versions

if TYPE_CHECKING:
    from pytorch_lightning import Callback
    from pytorch_lightning.loggers import Logger

__all__ = [
    "ALIASES",
    "CAM_FLAGS",
    "WSLCLI",
    "add_cam_options",
    "add_smoothing_options",
    "check_cam_options",
    "run_name",
    "run_tool",
    "train",
    "translate",
]

# Short flags for the settings people change most.
ALIASES = {
    "--pool": "--model.pool",
    "--backbone": "--model.backbone",
    "--dataset": "--data.data",
    "--method": "--model.method",
}
#: ``--checkpoint_select`` choices: the checkpoint the test scores.
CHECKPOINT_SELECT = ("best", "last")

#: The main job's model settings that differ from :class:`~wsl.lit.WSLModule`'s library defaults: its class
#: maps averaged over the four flips at validation and test (``cam_flips: hv``), which cancels the spatial
#: offset that image-level training leaves free (docs/benchmarks.md, "The main job's spread"; MaxBoxAcc
#: 36.1 -> 70.0 on the worst run of the seed x thread sweep). Configs for natural images set it to ``none``.
MODEL_DEFAULTS = {"model.cam_flips": "hv"}

TRAINER_DEFAULTS = {
    "max_epochs": 30,
    "accelerator": "auto",
    "devices": 1,
    "log_every_n_steps": 10,
    "check_val_every_n_epoch": 5,
    "num_sanity_val_steps": 0,
}


def run_name(data_spec: str, pool: str) -> str:
    """A folder name for a run: ``synthetic-weldon``, ``voc-VOC2007-gap``, ``wsol-CUB-gap`` …

    Example:
        >>> run_name("synthetic:easy:wsol", "weldon"), run_name("wsol:CUB:data/CUB:metadata=m", "gap")
        ('synthetic-easy-wsol-weldon', 'wsol-CUB-gap')
    """
    kind, _, rest = data_spec.partition(":")
    if kind == "wsol" and rest:  # wsol:DATASET:ROOT[:options], or wsol:ROOT
        head = rest.partition(":")[0] if ":" in rest else rest
        tag = Path(head.rstrip("/")).name
    elif rest and kind != "synthetic":
        tag = Path(rest.rstrip("/")).name
    else:
        tag = rest.replace(":", "-")
    return "-".join(part for part in (kind, tag, pool) if part)


def expand_aliases(argv: list[str]) -> list[str]:
    """Rewrite the short flags of :data:`ALIASES` (``--pool gap``, ``--pool=gap``) to their long names."""
    out = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        out.append(ALIASES[name] + eq + value if name in ALIASES else arg)
    return out


class WSLCLI(LightningCLI):
    """LightningCLI with the data module's classes linked to the model and a fixed run folder."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--ckpt_path", type=str | None, default=None, help="resume: a .ckpt file or 'last'"
        )
        parser.add_argument("--run_dir", type=str | None, default=None, help="default: runs/<data>-<pool>")
        parser.add_argument("--skip_test", type=bool, default=False, help="train only")
        parser.add_argument(
            "--overwrite",
            type=bool,
            default=False,
            help="delete the run already in --run_dir (its checkpoints, config.yaml, results.json) and train "
            "anew; without it a second training into a run folder is refused unless --ckpt_path continues it",
        )
        parser.add_argument(
            "--checkpoint_select",
            type=str,
            default="best",
            help="the checkpoint the test scores: best (by --checkpoint_monitor on the validation split) or "
            "last (the final weights; wsolevaluation's recommendation)",
        )
        parser.add_argument(
            "--checkpoint_monitor",
            type=str | None,
            default=None,
            help="validation score that picks best.ckpt (higher is better), e.g. val/maxboxacc_v2; default "
            "val/top1_acc for single-label data, else val/map",
        )
        parser.add_argument(
            "--test_protocols",
            type=str,
            default="auto",
            help="evaluation frames of the test, comma-separated (original, wsolevaluation); auto: both for "
            "wsol: data, else only --model.protocol",
        )
        parser.add_argument(
            "--cam_sheets",
            type=int,
            default=0,
            help="every N validation epochs, a contact sheet of CAMs in RUN/cams/ and in every logger that "
            "takes images (TensorBoard, W&B, MLflow); 0: off",
        )
        parser.set_defaults(MODEL_DEFAULTS)
        keep_integer_batch_limits(parser)
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.link_arguments("data.class_names", "model.class_names", apply_on="instantiate")
        parser.link_arguments("data.single_label", "model.single_label")
        # Backbones built for one input size (ViTs) are built for the data's.
        parser.link_arguments("data.image_size", "model.img_size")

    def before_instantiate_classes(self) -> None:
        config = self.config
        check_no_global_optimizer(config)
        root = config.trainer.default_root_dir
        if config.run_dir is None:
            # Lightning's own flag for "where outputs go" means the run folder here.
            config.run_dir = root or str(Path("runs") / run_name(config.data.data, config.model.pool))
        if root is None:
            config.trainer.default_root_dir = config.run_dir
        elif Path(root).resolve() != Path(config.run_dir).resolve():
            raise ValueError(
                f"trainer.default_root_dir {root!r} and run_dir {config.run_dir!r} name different folders; "
                "every output of a run (checkpoints, logs, results.json) goes to the run folder: pass one"
            )
        check_writable_dir(config.run_dir, "--run_dir")  # before any work, not at the first save
        if config.trainer.precision is None:
            config.trainer.precision = default_precision(config.trainer.accelerator)

    def instantiate_trainer(self, **kwargs) -> Trainer:
        run_dir = Path(self.config.run_dir)
        trainer_config = self._get(self.config_init, "trainer", default={})
        check_trainer_objects(trainer_config)
        if trainer_config.get("logger") is None:
            kwargs["logger"] = default_loggers(run_dir)
        if trainer_config.get("enable_checkpointing") is not False:
            monitor = checkpoint_monitor(self.config.checkpoint_monitor, self.model.hparams.single_label)
            last = run_dir / "checkpoints" / "last.ckpt"
            extra: list[Callback] = [
                # last.ckpt is LastCheckpoint's: ModelCheckpoint's save_last follows the monitored score.
                ModelCheckpoint(
                    dirpath=run_dir / "checkpoints",
                    filename="best",
                    monitor=monitor,
                    mode="max",
                    save_top_k=1,
                    save_last=False,
                    enable_version_counter=False,
                ),
                LastCheckpoint(last),
                SaveOnSigterm(last),
            ]
            kwargs["callbacks"] = [*(trainer_config.get("callbacks") or []), *extra]
        every = self.config.cam_sheets
        if every < 0:
            raise ValueError(f"cam_sheets must be >= 0 (0: off); got {every}")
        if every:
            from wsl.viz import CAMLogger

            callbacks = kwargs.get("callbacks", list(trainer_config.get("callbacks") or []))
            kwargs["callbacks"] = [*callbacks, CAMLogger(every_n_epochs=every, out_dir=run_dir / "cams")]
        if not trainer_config.get("plugins"):
            kwargs["plugins"] = [AtomicCheckpointIO()]
        return super().instantiate_trainer(**kwargs)


def check_trainer_objects(trainer_config) -> None:
    """Refuse callbacks, loggers and plugins of the unified ``lightning`` package
    (:mod:`wsl.lightning_package`)."""
    for key in ("callbacks", "logger", "plugins"):
        value = trainer_config.get(key)
        items = value if isinstance(value, list | tuple) else [value]
        for i, item in enumerate(items):
            if item is not None and not isinstance(item, bool | str):
                check_lightning_object(item, f"trainer.{key}" + (f"[{i}]" if isinstance(value, list) else ""))


def check_no_global_optimizer(config) -> None:
    """Refuse LightningCLI's top-level ``optimizer:`` / ``lr_scheduler:`` (kept in the configs as ``null``):
    they would replace :meth:`WSLModule.configure_optimizers` and lose wsl's per-group learning rates."""
    for key, field in (("optimizer", "optimizer"), ("lr_scheduler", "scheduler")):
        value = config.get(key)
        if value is not None:
            raise ValueError(
                f"--{key} (top-level {key}: in the config) would drop wsl's backbone/head learning rates; "
                f"give the same class_path as --model.{field} (model.{field}: in the config) instead"
            )


#: Trainer flags typed ``float | int`` by Lightning: a float is a fraction, an int a count.
BATCH_LIMIT_FLAGS = (
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "limit_predict_batches",
    "overfit_batches",
    "val_check_interval",
)


def keep_integer_batch_limits(parser: LightningArgumentParser) -> None:
    """Make ``--trainer.limit_val_batches 1`` the int 1 (one batch), not the float 1.0 (100 %).

    Lightning annotates these flags ``Union[float, int]``; jsonargparse tries the union's types in order,
    so every integer became a float and ``1`` meant the whole split. Trying ``int`` first keeps ``1``
    (and YAML's ``1``) an int while ``0.5`` and ``1.0`` stay fractions.
    """
    from typing import Optional, Union

    for action in parser._actions:
        name = action.dest.rpartition(".")[2]
        if action.dest.startswith("trainer.") and name in BATCH_LIMIT_FLAGS and hasattr(action, "_typehint"):
            action._typehint = Optional[Union[int, float]]  # noqa: UP007, UP045 - order matters at runtime


def checkpoint_monitor(name: str | None, single_label: bool) -> str:
    """The validation score that picks ``best.ckpt``: ``name``, else ``val/top1_acc`` (single-label) or
    ``val/map``.

    Raises:
        ValueError: a name outside the ``val/`` scores.
    """
    if name is None:
        return "val/top1_acc" if single_label else "val/map"
    if not name.startswith("val/") or name == "val/":
        raise ValueError(
            f"checkpoint_monitor: got {name!r}; expected a validation score such as val/map, val/top1_acc, "
            "val/maxboxacc or val/maxboxacc_v2"
        )
    return name


def resolve_test_protocols(value: str, data_spec: str, configured: str) -> list[str]:
    """The evaluation frames of the test, the configured one first.

    ``auto``: both frames (:data:`wsl.cam.frames.FRAMES`) for ``wsol:`` data (the synthetic ``:wsol``
    sets included), else only ``configured``. A list is taken as given (the configured frame is always
    scored, by ``trainer.test``).

    Raises:
        ValueError: an unknown frame name (the message lists the frames).

    Example:
        >>> resolve_test_protocols("auto", "wsol:CUB:data/CUB", "wsolevaluation")
        ['wsolevaluation', 'original']
        >>> resolve_test_protocols("auto", "synthetic", "original")
        ['original']
    """
    from wsl.cam.frames import FRAMES

    if value.strip() == "auto":
        kind, _, rest = data_spec.partition(":")
        wsol = kind == "wsol" or (kind == "synthetic" and rest.partition(":")[2] == "wsol")
        names = list(FRAMES) if wsol else [configured]
    else:
        names = [n.strip() for n in value.split(",") if n.strip()]
        for name in names:
            if name not in FRAMES:
                raise ValueError(
                    f"test_protocols: got {name!r} in {value!r}; expected 'auto' or a comma list of "
                    f"{list(FRAMES)}"
                )
    return list(dict.fromkeys([configured, *names]))


def default_precision(accelerator: str | None) -> str:
    """``bf16-mixed`` on GPUs with bf16 (``16-mixed`` on older ones) and on CPUs with AMX; else ``32-true``.

    On a 2-core AMD EPYC with AVX512-BF16 but no AMX, bf16 autocast made the main job's training step
    ≈1.3× *slower* than float32 (bench/train_speed.py, docs/benchmarks.md "Training speed"), so AVX512-BF16
    alone does not select it; AMX tiles are what make CPU bf16 matmuls and convolutions fast. Pass
    ``--trainer.precision`` to choose explicitly.
    """
    use_cuda = accelerator in ("gpu", "cuda") or (accelerator in (None, "auto") and torch.cuda.is_available())
    if use_cuda:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return "bf16-mixed" if accelerator in (None, "auto", "cpu") and amx else "32-true"


def default_loggers(run_dir: Path) -> list:
    """CSV metrics in ``run_dir/logs/version_N/metrics.csv``, plus TensorBoard there when it is installed.

    Each run (and each resumed run) gets a new version folder, so resuming never overwrites the logs of
    the interrupted run.
    """
    loggers: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="logs")]
    try:
        import tensorboard  # noqa: F401
        from pytorch_lightning.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=str(run_dir), name="logs", version=loggers[0].version))
    except ImportError:
        pass
    return loggers


def translate(message: str, flags: dict[str, str]) -> str:
    """Rewrite the library's argument names in an error message into a tool's flags.

    Example:
        >>> translate("cam_dir 'x' is not a folder; or skip_missing=True", {"cam_dir": "--cams",
        ...     "skip_missing=True": "--skip-missing"})
        "--cams 'x' is not a folder; or --skip-missing"
    """
    for name in sorted(flags, key=len, reverse=True):
        message = re.sub(rf"(?<![\w./-]){re.escape(name)}(?![\w/])", flags[name], message)
    return message


#: How the CAM-method errors of the library read as the tools' flags (``--cam-method``/``--cam-layer``).
CAM_FLAGS = {
    "cam_method": "--cam-method",
    "cam_layer": "--cam-layer",
    "layer:": "--cam-layer:",
    "layer=NAME": "--cam-layer NAME",
    "aug_smooth": "--aug-smooth",
    "eigen_smooth": "--eigen-smooth",
}


def _posthoc_names() -> str:
    from wsl.cam import POSTHOC_METHODS

    return ", ".join(m for m in sorted(POSTHOC_METHODS) if m != "native")


def add_cam_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--cam-method`` (default ``native``) and ``--cam-layer`` to a tool reading a checkpoint's CAMs
    (check the parsed arguments with :func:`check_cam_options`)."""
    from wsl.cam import POSTHOC_METHODS

    posthoc = _posthoc_names()
    parser.add_argument(
        "--cam-method",
        choices=sorted(POSTHOC_METHODS),
        default="native",
        help=f"native: the model's own class maps (default); {posthoc}: a post-hoc CAM of the same network "
        "on --cam-layer",
    )
    parser.add_argument(
        "--cam-layer",
        metavar="NAME",
        default=None,
        help="post-hoc --cam-method: dotted module name of the network (default: backbone, its output "
        "feature map; e.g. backbone.body.blocks.2); a,b: several layers, their maps fused",
    )
    add_smoothing_options(parser)


def add_smoothing_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--aug-smooth`` and ``--eigen-smooth``, :func:`wsl.cam.explain`'s options of a post-hoc
    ``--cam-method`` (:class:`wsl.cam.stream.CamSource`)."""
    parser.add_argument(
        "--aug-smooth",
        action="store_true",
        help="post-hoc --cam-method: average the maps over flip x brightness (test-time augmentation)",
    )
    parser.add_argument(
        "--eigen-smooth",
        action="store_true",
        help="post-hoc --cam-method: first principal component of the weighted activations, not their sum",
    )


def check_cam_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--cam-layer``, ``--aug-smooth`` and ``--eigen-smooth`` need a post-hoc ``--cam-method``: else the
    parser's error (exit 2). A ``--model`` classifier's ``native`` is its post-hoc method."""
    if args.cam_method != "native" or getattr(args, "model", None) is not None:
        return
    if args.cam_layer is not None:
        parser.error(f"--cam-layer is the layer of a post-hoc --cam-method ({_posthoc_names()})")
    for flag in ("aug_smooth", "eigen_smooth"):
        if getattr(args, flag, False):
            parser.error(
                f"--{flag.replace('_', '-')} smooths a post-hoc --cam-method, not the model's own class "
                f"maps: pass --cam-method gradcam (or {_posthoc_names()}) or leave it out"
            )


def _exit_status(code: object) -> int:
    """The status ``sys.exit(code)`` gives the process: None → 0, an int as is, else printed and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run_tool(
    function: Callable[[list[str] | None], object],
    argv: list[str] | None = None,
    flags: dict[str, str] | None = None,
) -> int:
    """Run a tool's function; a ``ValueError`` (bad input) becomes one ``error:`` line and exit code 2.

    SIGTERM (Lightning's ``SIGTERMException``) exits 143 and Ctrl-C exits 130, the shell's 128 + signal.
    Any other ``SystemExit`` (argparse's ``--help``: 0, a bad flag: 2, its message already printed) returns
    its status (``sys.exit``'s rules: None is 0, a message is printed and exits 1), so a tool's ``main`` is
    ``return run_tool(function, argv, flags)`` and nothing else.

    A training whose loss became non-finite (:class:`~wsl.lit.TrainingDiverged`) or whose checkpoint found
    no room on disk (:class:`~wsl.checkpoint.CheckpointWriteError`) exits 1 with one ``error:`` line.
    ``flags`` maps the library's argument names, as its error messages spell them, to the tool's flags.
    """
    try:
        function(argv)
    except ValueError as err:
        print(f"error: {translate(str(err), flags or {})}", file=sys.stderr)
        return 2
    except (TrainingDiverged, CheckpointWriteError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except SIGTERMException:
        # Lightning's SIGTERMException is a SystemExit with status 0: a pre-empted run must not look done.
        return 128 + signal.SIGTERM
    except SystemExit as exit_:
        return _exit_status(exit_.code)
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C)", file=sys.stderr)
        return 128 + signal.SIGINT
    return 0


def train(argv: list[str] | None = None) -> dict:
    """Train, test and report. Returns the results dictionary that is also written to ``results.json``.

    ``--print_recipe`` prints the configuration's recipe card (:mod:`wsl.recipe`) and exits (status 0)
    without building, training or reading anything.
    """
    argv = expand_aliases(list(sys.argv[1:] if argv is None else argv))
    if RECIPE_FLAG in argv:
        print_recipe([a for a in argv if a != RECIPE_FLAG])
    # wsl's data module resumes an epoch mid-way and says what it cannot restore: Lightning's hint is moot.
    warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch")
    cli = _make_cli(WSLCLI, argv, save_config_kwargs={"overwrite": True})
    run_dir = Path(cli.config.run_dir)
    select = cli.config.checkpoint_select
    if select not in CHECKPOINT_SELECT:
        raise ValueError(f"checkpoint_select: got {select!r}; expected one of {list(CHECKPOINT_SELECT)}")
    # Before any training, so that a typo in a frame name does not cost a run.
    configured = cli.model.hparams.get("protocol", "original")
    resolve_test_protocols(cli.config.test_protocols, cli.config.data.data, configured)
    check_input_size(cli.model, cli.config.data.image_size)
    # One training per run folder. Under DDP every rank runs this function; rank 0 holds the lock for all.
    with ExitStack() as stack:
        if cli.trainer.is_global_zero:
            try:
                stack.enter_context(lock_run_dir(run_dir))
                deleted = check_new_run(run_dir, cli.config.ckpt_path, cli.config.overwrite)
            except ValueError as err:
                raise ValueError(translate(str(err), {"run_dir": "--run_dir"})) from None
            if deleted:
                print(f"--overwrite: deleted the earlier run's {', '.join(deleted)} in {run_dir}")
        return _train(cli, run_dir)


#: ``tools/train.py --print_recipe``: the recipe card of the configuration, nothing built or trained.
RECIPE_FLAG = "--print_recipe"


def _make_cli(cls: type[WSLCLI], argv: list[str], **kwargs) -> WSLCLI:
    """The training command line over ``argv`` (alias-expanded), with the main job's defaults.

    The ``--config`` files are checked first (:func:`wsl.config_files.check_config_files`): an alias bomb or
    an empty ``model:`` section is one error line, not a hang or a traceback.
    """
    check_config_files(argv)
    check_lightning_paths(argv)
    # We always hand LightningCLI the arguments, which it warns about when sys.argv is set.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
    return cls(
        WSLModule,
        WSLDataModule,
        run=False,
        args=argv,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=0,
        parser_kwargs={"description": __doc__},
        **kwargs,
    )


class _ParseOnlyCLI(WSLCLI):
    """The training CLI's parser and defaults, without creating the run folder or any object."""

    def before_instantiate_classes(self) -> None:
        pass

    def instantiate_classes(self) -> None:
        pass


def print_recipe(argv: list[str]) -> None:
    """Print the recipe card (:func:`wsl.recipe.recipe_card`) of the configuration ``argv`` describes
    (``--config FILE`` and any overrides) and exit with status 0."""
    from wsl.recipe import recipe_card

    cli = _make_cli(_ParseOnlyCLI, argv)
    config = cli.config.as_dict()
    configs = [str(c) for c in (config.get("config") or [])]
    print(recipe_card(config, title=", ".join(configs) or None), end="")
    raise SystemExit(0)


def check_input_size(model: WSLModule, image_size: int) -> None:
    """One forward pass of a blank image, so that a backbone that cannot take ``image_size`` fails here,
    before the run folder is made, not after the data is loaded."""
    net = model.net
    training = net.training
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, 3, image_size, image_size))
    except (RuntimeError, AssertionError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(
            f"backbone {model.hparams['backbone']!r} (out_index {model.hparams['out_index']}) cannot take "
            f"{image_size} px images ({reason}); pass another --data.image_size or --backbone"
        ) from None
    finally:
        net.train(training)


def _train(cli: WSLCLI, run_dir: Path) -> dict:
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    if trainer.is_global_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text(run_dir / "config.yaml", cli.parser.dump(cli.config, skip_none=False))
    resume = resolve_resume(cli.config.ckpt_path, run_dir)
    if resume is not None and resume not in ("best", "hpc", "registry"):
        check_resumable(resume, model)
    data.resume_not_restored = []
    started = time.perf_counter()
    try:
        trainer.fit(model, datamodule=data, ckpt_path=resume)
    except MisconfigurationException as err:
        # Lightning checks some trainer options (limit_*_batches against the loader lengths) only in fit.
        if trainer.is_global_zero and resume is None and trainer.global_step == 0:
            (run_dir / "config.yaml").unlink(missing_ok=True)  # nothing ran: the folder stays reusable
        raise ValueError(f"trainer: {err}") from None
    except SystemExit:
        # Lightning ends a Ctrl-C'd fit with sys.exit(1); after our save it is a KeyboardInterrupt (130).
        callbacks = cast("list[Callback]", getattr(trainer, "callbacks", []))  # set in Trainer.__init__
        if any(isinstance(c, SaveOnSigterm) and c.interrupted for c in callbacks):
            raise KeyboardInterrupt from None
        raise
    train_seconds = time.perf_counter() - started
    results = {
        "run_dir": str(run_dir),
        "pool": model.hparams.pool,
        "backbone": model.hparams.backbone,
        "data": cli.config.data.data,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "train_seconds": round(train_seconds, 1),
        "weights": model.net.backbone.weights,
        "versions": versions(),
        "machine": machine(),
    }
    if resume is not None:
        results["resumed_from"] = str(resume)
        # What a bit-identical continuation needed and the checkpoint could not give (empty: everything).
        results["resume_not_restored"] = list(data.resume_not_restored)
        if trainer.is_global_zero and data.resume_not_restored:
            print(
                "note: the resumed run is not bit-identical to an uninterrupted one; not restored: "
                + "; ".join(data.resume_not_restored)
            )
    if not cli.config.skip_test:
        results.update(_test(cli))
    if trainer.is_global_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        # Scores can be undefined (NaN: a class without positives, a split without masks): null in JSON.
        write_json(run_dir / "results.json", results, nan_as_null=True)
        print(f"\nresults: {run_dir / 'results.json'}")
    return results


def tested_images(trainer: Trainer, data: WSLDataModule) -> int | None:
    """How many images of the test split ``trainer.test`` scored: the first ``N·B·W`` (``N`` batches of
    ``B`` per process, ``W`` processes; the sharded sampler interleaves them), None for all.

    Each process scores its first ``N`` batches (``limit_test_batches``) of indices ``r, r + W, …``;
    together they are the images ``0 … N·B·W − 1``, which the other frames of the test then score too.
    """
    total = len(data.dataset(data.test_split))
    batches = trainer.num_test_batches[0] if trainer.num_test_batches else float("inf")
    if batches == float("inf"):
        return None
    count = int(batches) * data.batch_size * trainer.world_size
    return count if count < total else None


def checkpoint_step(path: str) -> int | None:
    """The ``global_step`` stored inside a checkpoint (None without one)."""
    if not path:
        return None
    payload = read_checkpoint(path, "checkpoint", mmap=True)
    step = payload.get("global_step") if isinstance(payload, dict) else None
    return int(step) if step is not None else None


def resolve_resume(ckpt_path: str | None, run_dir: Path) -> str | None:
    """The checkpoint ``--ckpt_path`` resumes from: ``last`` is ``RUN/checkpoints/last.ckpt`` (None, a new
    training, when the run has none yet); other values as given."""
    if ckpt_path != "last":
        return ckpt_path
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        return str(last)
    print(f"note: --ckpt_path last: {last} does not exist yet; training from the start")
    return None


def choose_checkpoint(callback: ModelCheckpoint | None, last: Path, select: str) -> tuple[str, str | None]:
    """The checkpoint the test scores, and why it is not the one ``select`` asked for (None: it is).

    ``last``: the final weights (``last.ckpt`` of :class:`~wsl.checkpoint.LastCheckpoint`). ``best``:
    ``best.ckpt`` by the monitored validation score; without one (validation off, or the score never
    logged) the final weights, with the reason.
    """
    final = str(last) if last.is_file() else ""
    if select == "last":
        return final, None
    if callback is None:
        return final, "checkpointing is off (--trainer.enable_checkpointing false): tested the final weights"
    if callback.best_model_path:
        return callback.best_model_path, None
    reason = (
        f"no best.ckpt: the monitored score {callback.monitor} was never logged (validation off, "
        "limit_val_batches 0, or no validation epoch); tested the final weights (last.ckpt)"
    )
    return final, reason


def _test(cli: WSLCLI) -> dict:
    """Score the chosen checkpoint on the test split in every frame of ``--test_protocols``; print one
    table per frame. ``trainer.test`` scores the configured frame; the others reuse its weights through
    :func:`wsl.inference.evaluate_model` (rank 0 only, under the trainer's precision)."""
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    configured = model.hparams.get("protocol", "original")
    frames = resolve_test_protocols(cli.config.test_protocols, cli.config.data.data, configured)
    # Lightning documents this as the first ModelCheckpoint but types it as a Checkpoint.
    callback = cast("ModelCheckpoint | None", trainer.checkpoint_callback)
    select = cli.config.checkpoint_select
    last = Path(cli.config.run_dir) / "checkpoints" / "last.ckpt"
    chosen, fallback = choose_checkpoint(callback, last, select)
    if fallback and trainer.is_global_zero:
        print(f"note: --checkpoint_select {select}: {fallback}")
    trainer.test(model, datamodule=data, ckpt_path=chosen or None, verbose=False)
    metrics = trainer.callback_metrics
    test = {k.split("/", 1)[1]: float(v) for k, v in metrics.items() if k.startswith("test/")}
    by_frame = {configured: {k: v for k, v in test.items() if k != "loss"}}
    if trainer.is_global_zero and len(frames) > 1:
        from wsl.inference import evaluate_model

        model.to(trainer.strategy.root_device)
        loader = data.dataloader(data.test_split, limit=tested_images(trainer, data))
        for frame in frames[1:]:
            with trainer.strategy.precision_plugin.forward_context():
                by_frame[frame] = evaluate_model(model, loader, progress=False, protocol=frame)
    out = {
        "test": test,
        "test_by_protocol": by_frame,
        "checkpoint": chosen,
        "checkpoint_global_step": checkpoint_step(chosen),
        "checkpoint_select": select,
        "checkpoint_fallback": fallback,
        "test_images": tested_images(trainer, data) or len(data.dataset(data.test_split)),
        "checkpoint_monitor": callback.monitor if callback is not None else None,
        "test_curves": model.test_metrics.curves(),
    }
    if trainer.is_global_zero:
        name = f"{model.hparams.pool} / {model.hparams.backbone}"
        for frame, scores in by_frame.items():
            print(f"\nTest split ({data.test_split}), {frame} frame, percentages:\n")
            print(format_table([(name, scores)]))
    return out
