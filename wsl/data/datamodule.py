"""``WSLDataModule``: one LightningDataModule for the synthetic sets and every registered format."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Sampler, Subset

from .base import BOX_POLICIES, WSLDataset
from .collate import collate_wsl
from .formats import format_names, get_format, unknown_choice
from .memory import CACHE_LIMIT_BYTES, CachedTrainSet, ResizeToUint8, cache_bytes, cache_side
from .samplers import ResumableRandomSampler, eval_sampler
from .synthetic import PRESETS, ensure_synthetic
from .transforms import build_transform

__all__ = ["WSLDataModule", "data_kinds", "parse_data_spec"]

SYNTHETIC = "synthetic"


def data_kinds() -> list[str]:
    """The kinds of data spec: ``synthetic`` and the registered format names (``voc``, ``coco``, ...)."""
    return [SYNTHETIC, *format_names()]


def parse_data_spec(spec: str) -> tuple[str, str, str]:
    """Parse a data spec into ``(kind, arg, fmt)``.

    ``synthetic[:PRESET[:FORMAT]]`` → ``("synthetic", PRESET, FORMAT)`` (default ``easy``, ``voc``;
    FORMAT any registered format with a writer); ``FORMAT:PATH`` (``voc:PATH``, ``coco:PATH``, any
    registered format) → ``(FORMAT, PATH, FORMAT)``.

    Raises:
        ValueError: unknown kind (lists the kinds and suggests the closest), missing path, unknown
            preset, or an unknown or read-only synthetic format.
    """
    kind, _, arg = spec.partition(":")
    kinds = data_kinds()
    if kind not in kinds:
        raise unknown_choice(
            "data", kind, kinds, shown=spec, usage="as 'synthetic[:PRESET[:FORMAT]]' or 'FORMAT:PATH'"
        )
    if kind == SYNTHETIC:
        preset, _, fmt = arg.partition(":")
        preset, fmt = preset or "easy", fmt or "voc"
        if preset not in PRESETS:
            raise ValueError(
                f"data: unknown synthetic preset {preset!r} in {spec!r}; expected one of {list(PRESETS)}"
            )
        get_format(fmt, writable=True, what=f"data: synthetic format in {spec!r}")
        return kind, preset, fmt
    if not arg:
        raise ValueError(f"data: {spec!r} lacks the dataset root; expected {kind}:PATH")
    if kind == "wsol":  # wsol:DATASET:ROOT[:metadata=DIR]
        from .wsol import parse_wsol_root

        parse_wsol_root(arg)
    return kind, arg, kind


class WSLDataModule(pl.LightningDataModule):
    """Train/val/test loaders for a data spec; ``num_classes`` and ``class_names`` without loading images.

    Train batches carry image-level labels only (training transform: resize, flip, mild jitter); val
    and test batches carry annotations too (boxes, masks at the original size; see ``docs/design.md``).
    Batches are dicts from :func:`~wsl.data.collate.collate_wsl`.

    Args:
        data: ``synthetic`` (= ``synthetic:easy``), ``synthetic:hard``, ``synthetic:PRESET:FORMAT``,
            ``voc:PATH``, ``coco:PATH`` or ``FORMAT:PATH`` for any format of :mod:`wsl.data.formats`.
        image_size: side ``S`` of the network input.
        batch_size: batch size of every loader.
        num_workers: DataLoader workers (persistent for train/val when > 0).
        train_split, val_split, test_split: split names (VOC ``ImageSets/Main/SPLIT.txt``, COCO
            ``instances_SPLIT.json``).
        class_names: ordered class names; default: the synthetic preset's classes, ``ROOT/classes.txt``
            or the 20 VOC classes for VOC, all categories sorted by id for COCO.
        single_label: one class per image (largest object), one-hot labels, for Top-1 Loc.
        skip_bad: skip bad samples with one warning instead of raising ``DatasetError``.
        cache_dir: cache folder of the synthetic sets (default ``$WSL_CACHE`` or ``~/.cache/wsl``).
        seed: seed of the synthetic set, and of the random val subset of ``wsol:`` data
            (``num_val_sample_per_class``; :mod:`wsl.data.wsol`).
        box_policy: boxes past the image edge: ``clip`` (default; one count warning) or ``strict``
            (an error naming file, object and field); see :class:`~wsl.data.base.WSLDataset`.
        empty_images: COCO images without objects: ``auto`` (default: negatives in the train loader,
            skipped with a one-line count in val/test), ``keep``, ``skip`` or ``error``; see
            :class:`~wsl.data.coco.COCODataset`.
        augment: training augmentation, ``light`` (flip + jitter), ``shapes`` (adds the square's 8
            symmetries and RGB shuffles) or ``wsol`` (wsolevaluation's Resize(S·256/224) → RandomCrop(S)
            → flip); ``auto`` = ``shapes`` for synthetic data, else ``light``.
        cache_images: decode the training images once into memory and augment them in the training
            process (:class:`~wsl.data.memory.CachedTrainSet`; the train loader then has no workers).
            ``None`` (auto): when training runs on the CPU and the split's ``3·N·S²`` bytes fit in 2 GiB:
            an epoch then costs ≈0.13 ms per image instead of ≈2 ms of decoding in workers that share the
            cores (docs/benchmarks.md, "Training speed"); on a GPU the workers' decoding overlaps the
            GPU's work, so auto keeps them.

    Example:
        >>> dm = WSLDataModule("synthetic", batch_size=32)
        >>> dm.num_classes, dm.class_names[:2]
        (6, ['circle', 'square'])
    """

    def __init__(  # noqa: PLR0913 (LightningCLI builds the --data.* flags from this signature)
        self,
        data: str = "synthetic",
        image_size: int = 128,
        batch_size: int = 64,
        num_workers: int = 2,
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "test",
        class_names: list[str] | None = None,
        single_label: bool = False,
        skip_bad: bool = False,
        cache_dir: str | None = None,
        seed: int = 0,
        augment: str = "auto",
        box_policy: str = "clip",
        empty_images: str = "auto",
        cache_images: bool | None = None,
    ) -> None:
        super().__init__()
        # Stored in every checkpoint, so evaluation and export can default to the training data setup.
        self.save_hyperparameters(ignore=["class_names"])  # the model stores the resolved names
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: got {batch_size!r}; expected an int >= 1")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size: got {image_size!r}; expected an int >= 1")
        if num_workers < 0:
            raise ValueError(f"num_workers: got {num_workers}; expected >= 0")
        self.data = data
        self.kind, self._arg, self.fmt = parse_data_spec(data)
        self.data_format = get_format(self.fmt)
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.train_split, self.val_split, self.test_split = train_split, val_split, test_split
        self.single_label = single_label
        self.skip_bad = skip_bad
        self.cache_dir = cache_dir
        self.seed = seed
        if box_policy not in BOX_POLICIES:
            raise unknown_choice("box_policy", box_policy, BOX_POLICIES)
        self.box_policy = box_policy
        self.empty_images = empty_images
        self.augment = ("shapes" if self.kind == SYNTHETIC else "light") if augment == "auto" else augment
        build_transform(image_size, train=True, augment=self.augment)  # validates the name early
        self._root: Path | None = None if self.kind == SYNTHETIC else Path(self._arg)
        self._class_names = list(class_names) if class_names is not None else self._default_class_names()
        self._datasets: dict[tuple[str, bool, bool, bool], WSLDataset] = {}
        self.cache_images = cache_images
        self._cached_train: CachedTrainSet | None = None
        #: The training loader's sampler (built by ``train_dataloader``).
        self.train_sampler: ResumableRandomSampler | None = None
        self._train_resume: dict[str, Any] | None = None
        #: What the last :meth:`load_state_dict` could not restore for a bit-identical resume ([]: all).
        self.resume_not_restored: list[str] = []

    def _default_class_names(self) -> list[str]:
        if self.kind == SYNTHETIC:  # known without generating the set
            return list(PRESETS[self._arg].classes)
        assert self._root is not None  # set in __init__ for every other kind
        return list(self.data_format.read_class_names(self._root, self.train_split))

    @property
    def class_names(self) -> list[str]:
        """Ordered class names (available right after construction)."""
        return list(self._class_names)

    @property
    def num_classes(self) -> int:
        """Number of classes (available right after construction)."""
        return len(self._class_names)

    @property
    def root(self) -> Path:
        """Dataset root; for synthetic data this generates the set on first use."""
        if self._root is None:
            self._root = ensure_synthetic(self.cache_dir, preset=self._arg, seed=self.seed, fmt=self.fmt)
        return self._root

    def prepare_data(self) -> None:
        """Generate the synthetic set if needed (called on one process)."""
        if self.kind == SYNTHETIC:
            _ = self.root

    def dataset(
        self, split: str, train: bool = False, with_annotations: bool = True, with_images: bool = True
    ) -> WSLDataset:
        """The (cached) dataset of ``split``: training transform with ``train``, annotations with
        ``with_annotations``; without ``with_images`` its items lack ``image`` and nothing is decoded (a
        view sharing the parsed annotations of the dataset with images when that one is built, else a
        dataset built without images, which opens no image whose size the annotations declare)."""
        key = (split, train, with_annotations, with_images)
        if key in self._datasets:
            return self._datasets[key]
        with_images_key = (split, train, with_annotations, True)
        if not with_images and (with_images_key in self._datasets or not self._takes("with_images")):
            self._datasets[key] = self.dataset(split, train, with_annotations).without_images()
        else:
            self._datasets[key] = self.data_format.dataset(
                self.root,
                split,
                class_names=self._class_names,
                image_size=self.image_size,
                transform=build_transform(self.image_size, train=train, augment=self.augment),
                with_annotations=with_annotations,
                single_label=self.single_label,
                skip_bad=self.skip_bad,
                **({} if with_images else {"with_images": False}),
                **self._policy_kwargs(),
                **self._seed_kwargs(),
            )
        return self._datasets[key]

    def _takes(self, name: str) -> bool:
        """Whether the format's dataset constructor takes the keyword ``name``."""
        return name in inspect.signature(self.data_format.dataset).parameters

    def _seed_kwargs(self) -> dict[str, Any]:
        """``seed`` for a format whose dataset draws at random (wsol's val subset), else nothing."""
        return {"seed": self.seed} if "seed" in inspect.signature(self.data_format.dataset).parameters else {}

    def _policy_kwargs(self) -> dict[str, Any]:
        """The dataset policies (``box_policy`` ...) the format's dataset accepts; a format that does not
        take one (e.g. a reader with its own box rule) gets it only when it differs from the default."""
        accepted = inspect.signature(self.data_format.dataset).parameters
        kwargs: dict[str, Any] = {}
        for name, value, default in (
            ("box_policy", self.box_policy, "clip"),
            ("empty_images", self.empty_images, "auto"),
        ):
            if name in accepted:
                kwargs[name] = value
            elif value != default:
                raise ValueError(
                    f"{name}: got {value!r}, but the {self.fmt!r} format has no {name} option; "
                    f"leave it at {default!r}"
                )
        return kwargs

    def setup(self, stage: str | None = None) -> None:
        """Parse the annotations of the splits ``stage`` needs (eagerly, so bad files fail here)."""
        if stage in (None, "fit"):
            self.dataset(self.train_split, train=True, with_annotations=False)
        if stage in (None, "fit", "validate"):
            self.dataset(self.val_split)
        if stage in (None, "test", "predict"):
            self.dataset(self.test_split)

    def dataloader(  # noqa: PLR0913 (keyword options of one loader, as DataLoader's)
        self,
        split: str,
        with_annotations: bool = True,
        shuffle: bool = False,
        limit: int | None = None,
        batch_size: int | None = None,
        train: bool = False,
        persistent_workers: bool = False,
        with_images: bool = True,
        sampler: Callable[[Any], Sampler] | None = None,
    ) -> DataLoader:
        """A loader over a named split (used by the evaluate/export tools).

        Args:
            split: split name.
            with_annotations: include boxes/masks (evaluation).
            shuffle: shuffle the samples.
            limit: use only the first ``limit`` samples.
            batch_size: default ``self.batch_size``.
            train: use the training transform.
            persistent_workers: keep workers alive between epochs (only when ``num_workers > 0``).
            with_images: include ``image``; False gives annotation-only batches (no image is decoded,
                ``orig_size`` the declared size, else from the image header), e.g. to evaluate saved CAMs.
            sampler: a sampler of the (limited) dataset, called with it (instead of ``shuffle``).
        """
        ds: Any = self.dataset(split, train=train, with_annotations=with_annotations, with_images=with_images)
        if limit is not None:
            if limit < 1:
                raise ValueError(f"limit: got {limit}; expected a positive int or None")
            ds = Subset(ds, range(min(limit, len(ds))))
        # Under DDP, evaluation loaders shard without padding: Lightning's own DistributedSampler would
        # repeat images of an uneven split and count them twice (docs/reliability.md, "Distributed").
        if sampler is None:
            chosen: Sampler | None = None if shuffle or train else eval_sampler(ds)
        else:
            chosen, shuffle = sampler(ds), False
        return DataLoader(
            ds,
            batch_size=batch_size or self.batch_size,
            shuffle=shuffle,
            sampler=chosen,
            drop_last=False,
            num_workers=self.num_workers,
            persistent_workers=persistent_workers and self.num_workers > 0,
            collate_fn=collate_wsl,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        if self._use_cache():
            if self._cached_train is None:
                transform = build_transform(self.image_size, train=True, augment=self.augment)
                side = cache_side(transform)
                self._cached_train = CachedTrainSet(
                    self._uint8_split(self.train_split, side), transform, side
                )
            return DataLoader(
                self._cached_train,
                batch_size=self.batch_size,
                sampler=self._train_sampler(self._cached_train),
                num_workers=0,
                collate_fn=collate_wsl,
                pin_memory=torch.cuda.is_available(),
            )
        return self.dataloader(
            self.train_split,
            with_annotations=False,
            train=True,
            persistent_workers=True,
            sampler=self._train_sampler,
        )

    def _train_sampler(self, dataset: Any) -> ResumableRandomSampler:
        """The shuffling sampler of the training loader, handed the resume plan of :meth:`load_state_dict`."""
        sampler = ResumableRandomSampler(dataset, self.batch_size)
        if self._train_resume is not None:
            sampler.load_state_dict(self._train_resume)
            self._train_resume = None
        self.train_sampler = sampler
        return sampler

    def state_dict(self) -> dict[str, Any]:
        """Lightning stores this in every checkpoint: the RNG states at the save, and, for a checkpoint taken
        mid-epoch, what resumes that epoch exactly (:class:`~wsl.data.samplers.ResumableRandomSampler`).

        ``not_restored`` lists what a resume from this checkpoint will not restore bit for bit.
        """
        from wsl.rng import rng_state

        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return {}
        state: dict[str, Any] = {"rng_at_save": rng_state(), "not_restored": self._not_restored(trainer)}
        current = trainer.fit_loop.epoch_loop.batch_progress.current  # a _ProcessedTracker in training
        done = int(getattr(current, "processed", current.completed))
        if self.train_sampler is not None and 0 < done < trainer.num_training_batches:
            epoch = self.train_sampler.state_dict(done)
            state["train_epoch"] = {**epoch, "stop": int(trainer.num_training_batches)}
        return state

    def _not_restored(self, trainer: pl.Trainer) -> list[str]:
        missing = []
        if trainer.world_size > 1:
            missing.append(
                "the data order and position within the epoch under distributed training (Lightning's "
                "DistributedSampler replaces the resumable one)"
            )
        elif self.train_sampler is None or getattr(trainer.train_dataloader, "sampler", None) is not (
            self.train_sampler
        ):
            missing.append("the data order and position within the epoch (the training loader was replaced)")
        if self.num_workers > 0 and not self._use_cache():
            missing.append(
                "the augmentation RNG of the loader's worker processes (--data.num_workers 0 restores it)"
            )
        return missing

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the RNG states of a checkpoint and plan the resumed epoch (Lightning calls this when a
        training resumes); :attr:`resume_not_restored` then says what was not restored."""
        from wsl.rng import set_rng_state

        if not state_dict:
            self.resume_not_restored = ["the RNG states and the position within the epoch (not saved)"]
            return
        set_rng_state(state_dict["rng_at_save"])
        epoch = state_dict.get("train_epoch")
        self._train_resume = None if epoch is None else {**epoch, "rng_at_save": state_dict["rng_at_save"]}
        self.resume_not_restored = list(state_dict.get("not_restored") or [])

    def _uint8_split(self, split: str, side: int) -> WSLDataset:
        """The training dataset of ``split`` (its parsed records shared) with images resized to uint8
        ``side × side`` instead of augmented: what the cache stores."""
        view = copy.copy(self.dataset(split, train=True, with_annotations=False))
        view.transform = ResizeToUint8(side)
        return view

    def _use_cache(self) -> bool:
        """Whether the train loader reads from :class:`CachedTrainSet` (see ``cache_images``)."""
        if self.cache_images is not None:
            return self.cache_images
        trainer = getattr(self, "trainer", None)
        on_cpu = trainer is None or type(trainer.accelerator).__name__ == "CPUAccelerator"
        num_images = len(self.dataset(self.train_split, train=True, with_annotations=False))
        side = cache_side(build_transform(self.image_size, train=True, augment=self.augment))
        return on_cpu and cache_bytes(num_images, side) <= CACHE_LIMIT_BYTES

    def val_dataloader(self) -> DataLoader:
        return self.dataloader(self.val_split, persistent_workers=True)

    def test_dataloader(self) -> DataLoader:
        return self.dataloader(self.test_split)

    def predict_dataloader(self) -> DataLoader:
        return self.dataloader(self.test_split)
