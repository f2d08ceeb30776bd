"""wsl.cli, its helpers called directly: names, aliases, monitors, frames, precision, loggers, the CAM flags,
the error translation, the input-size check and the checkpoint choices of the test.

Whole trainings through the CLI are in ``tests/tools/test_train*.py`` and ``tests/reliability``; the exit
statuses of ``run_tool`` in ``tests/tools/test_run_tool.py``.
"""

from __future__ import annotations

import argparse
import errno
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import wsl.cli  # tested_images through the module: pytest would collect the bare name as a test
from wsl.checkpoint import CheckpointWriteError
from wsl.cli import (
    ALIASES,
    add_cam_options,
    check_cam_options,
    check_input_size,
    checkpoint_monitor,
    checkpoint_step,
    choose_checkpoint,
    default_loggers,
    default_precision,
    expand_aliases,
    resolve_resume,
    resolve_test_protocols,
    run_name,
    run_tool,
    translate,
)


@pytest.mark.parametrize(
    ("spec", "pool", "name"),
    [
        ("synthetic", "weldon", "synthetic-weldon"),
        ("synthetic:easy:wsol", "gap", "synthetic-easy-wsol-gap"),
        ("voc:data/VOC2007/", "gap", "voc-VOC2007-gap"),
        ("coco:/data/coco2014", "lse", "coco-coco2014-lse"),
        ("wsol:CUB:data/CUB:metadata=m", "gap", "wsol-CUB-gap"),
        ("wsol:data/CUB/", "gap", "wsol-CUB-gap"),
    ],
)
def test_run_name_is_kind_folder_and_pool(spec, pool, name):
    assert run_name(spec, pool) == name


def test_expand_aliases_rewrites_exactly_the_short_flags_in_both_spellings():
    argv = [
        "--pool=gap",
        "--backbone",
        "resnet18",
        "--pools",
        "x",
        "--dataset=voc:a=b",
        "--model.pool",
        "gmp",
    ]
    assert expand_aliases(argv) == [
        "--model.pool=gap",
        "--model.backbone",
        "resnet18",
        "--pools",
        "x",
        "--data.data=voc:a=b",
        "--model.pool",
        "gmp",
    ]
    assert all(long.startswith(("--model.", "--data.")) for long in ALIASES.values())


def test_checkpoint_monitor_defaults_by_label_mode_and_refuses_a_non_validation_name():
    assert checkpoint_monitor(None, single_label=True) == "val/top1_acc"
    assert checkpoint_monitor(None, single_label=False) == "val/map"
    assert checkpoint_monitor("val/maxboxacc_v2", single_label=False) == "val/maxboxacc_v2"
    for bad in ("test/map", "val/", "map"):
        with pytest.raises(
            ValueError, match=rf"^checkpoint_monitor: got '{bad}'; expected a validation score"
        ):
            checkpoint_monitor(bad, single_label=True)


@pytest.mark.parametrize(
    ("value", "spec", "configured", "frames"),
    [
        ("auto", "wsol:CUB:data/CUB", "original", ["original", "wsolevaluation"]),
        ("auto", "synthetic:easy:wsol", "wsolevaluation", ["wsolevaluation", "original"]),
        ("auto", "synthetic:easy", "original", ["original"]),
        ("auto", "voc:data/VOC2007", "wsolevaluation", ["wsolevaluation"]),
        (" original , original,", "voc:x", "wsolevaluation", ["wsolevaluation", "original"]),
        ("wsolevaluation", "voc:x", "wsolevaluation", ["wsolevaluation"]),
    ],
)
def test_resolve_test_protocols_puts_the_configured_frame_first_once(value, spec, configured, frames):
    assert resolve_test_protocols(value, spec, configured) == frames


def test_resolve_test_protocols_names_the_unknown_frame_and_the_choices():
    with pytest.raises(
        ValueError, match=r"^test_protocols: got 'orignal' in 'orignal,wsolevaluation'; expected"
    ):
        resolve_test_protocols("orignal,wsolevaluation", "voc:x", "original")


@pytest.mark.parametrize(
    ("accelerator", "cuda", "bf16", "amx", "precision"),
    [
        ("cpu", False, False, False, "32-true"),
        ("cpu", False, False, True, "bf16-mixed"),
        ("auto", False, False, True, "bf16-mixed"),
        (None, False, False, False, "32-true"),
        ("mps", False, False, True, "32-true"),
        ("gpu", True, True, False, "bf16-mixed"),
        ("cuda", True, False, False, "16-mixed"),
        ("auto", True, True, False, "bf16-mixed"),
        ("cpu", True, True, False, "32-true"),
    ],
)
def test_default_precision_is_bf16_only_where_it_is_fast(
    monkeypatch, accelerator, cuda, bf16, amx, precision
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert default_precision(accelerator) == precision


def test_default_loggers_start_a_new_version_folder_shared_by_all_loggers(tmp_path):
    (tmp_path / "logs" / "version_0").mkdir(parents=True)
    loggers = default_loggers(tmp_path)
    assert type(loggers[0]).__name__ == "CSVLogger"
    assert {logger.version for logger in loggers} == {1}
    assert Path(loggers[0].log_dir) == tmp_path / "logs" / "version_1"


def test_translate_rewrites_whole_names_longest_first():
    flags = {"cam": "--c", "cam_dir": "--cams", "skip_missing=True": "--skip-missing"}
    assert translate("cam_dir and cam; or skip_missing=True", flags) == "--cams and --c; or --skip-missing"
    # Inside another word or a path: left as it is; before a sentence's full stop: rewritten.
    assert translate("my_cam_dir, runs/cam_dir, cam_dir/x", flags) == "my_cam_dir, runs/cam_dir, cam_dir/x"
    assert translate("see cam.", flags) == "see --c."
    # A name that another one begins with, given first: the longer one still wins where it stands.
    ordered = {"skip_missing": "--skip", "skip_missing=True": "--skip-missing"}
    assert translate("skip_missing=True, or skip_missing", ordered) == "--skip-missing, or --skip"


def test_run_tool_gives_1_and_one_line_when_a_checkpoint_found_no_room(tmp_path, capsys):
    def full_disk(argv):
        raise CheckpointWriteError(tmp_path / "last.ckpt", OSError(errno.ENOSPC, "No space left"))

    assert run_tool(full_disk, []) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write the checkpoint ") and err.count("\n") == 1


def _cam_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool")
    add_cam_options(parser)
    return parser


def test_cam_options_default_to_native_and_take_a_posthoc_method_on_a_layer():
    parser = _cam_parser()
    plain = parser.parse_args([])
    assert (plain.cam_method, plain.cam_layer) == ("native", None)
    check_cam_options(parser, plain)
    posthoc = parser.parse_args(["--cam-method", "gradcam", "--cam-layer", "backbone.body"])
    check_cam_options(parser, posthoc)
    assert (posthoc.cam_method, posthoc.cam_layer) == ("gradcam", "backbone.body")


def test_a_cam_layer_without_a_posthoc_method_is_the_parsers_error(capsys):
    parser = _cam_parser()
    with pytest.raises(SystemExit) as caught:
        check_cam_options(parser, parser.parse_args(["--cam-layer", "backbone"]))
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "error: --cam-layer is the layer of a post-hoc --cam-method (" in err and "gradcam" in err
    assert "native" not in err.partition("--cam-method (")[2]
    with pytest.raises(SystemExit):
        parser.parse_args(["--cam-method", "gradcamm"])


class Refuses(nn.Module):
    """A network that cannot take the images: the error a backbone raises for a too-small input."""

    def forward(self, images):
        raise RuntimeError(f"Input size ({images.shape[-1]}) too small\nsecond line")


def test_check_input_size_names_the_backbone_the_size_and_the_first_line_of_the_reason():
    model = SimpleNamespace(net=Refuses().train(), hparams={"backbone": "vit_tiny", "out_index": -1})
    with pytest.raises(ValueError) as caught:
        check_input_size(model, 17)
    assert str(caught.value) == (
        "backbone 'vit_tiny' (out_index -1) cannot take 17 px images (Input size (17) too small); "
        "pass another --data.image_size or --backbone"
    )
    assert model.net.training  # the mode is restored


def test_check_input_size_passes_a_network_that_takes_the_size_and_keeps_eval_mode():
    seen = []
    net = nn.Conv2d(3, 1, 1).eval()
    net.register_forward_hook(lambda mod, args, out: seen.append((args[0].shape, torch.is_grad_enabled())))
    check_input_size(SimpleNamespace(net=net, hparams={}), 32)
    assert seen == [(torch.Size([1, 3, 32, 32]), False)] and not net.training


def _data(total: int, batch_size: int) -> SimpleNamespace:
    return SimpleNamespace(dataset=lambda split: [None] * total, test_split="test", batch_size=batch_size)


@pytest.mark.parametrize(
    ("batches", "world", "total", "count"),
    [([2], 1, 20, 8), ([2], 2, 20, 16), ([5], 1, 20, None), ([9], 1, 20, None), ([], 1, 20, None)],
)
def test_tested_images_is_batches_times_batch_size_times_processes_when_below_the_split(
    batches, world, total, count
):
    trainer = SimpleNamespace(num_test_batches=batches, world_size=world)
    assert wsl.cli.tested_images(trainer, _data(total, 4)) == count
    trainer.num_test_batches = [float("inf")]
    assert wsl.cli.tested_images(trainer, _data(total, 4)) is None


def test_checkpoint_step_reads_the_stored_global_step(tmp_path):
    torch.save({"global_step": 12, "state_dict": {}}, tmp_path / "a.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "b.ckpt")
    assert checkpoint_step(str(tmp_path / "a.ckpt")) == 12
    assert checkpoint_step(str(tmp_path / "b.ckpt")) is None
    assert checkpoint_step("") is None


def test_resolve_resume_maps_last_to_the_runs_file_or_to_a_new_training(tmp_path, capsys):
    assert resolve_resume(None, tmp_path) is None
    assert resolve_resume("elsewhere.ckpt", tmp_path) == "elsewhere.ckpt"
    assert resolve_resume("last", tmp_path) is None
    assert capsys.readouterr().out == (
        f"note: --ckpt_path last: {tmp_path / 'checkpoints' / 'last.ckpt'} does not exist yet; "
        "training from the start\n"
    )
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert resolve_resume("last", tmp_path) == str(tmp_path / "checkpoints" / "last.ckpt")


def test_choose_checkpoint_says_why_it_tests_the_final_weights(tmp_path):
    last = tmp_path / "last.ckpt"
    best = SimpleNamespace(best_model_path=str(tmp_path / "best.ckpt"), monitor="val/map")
    never = SimpleNamespace(best_model_path="", monitor="val/maxboxacc")
    assert choose_checkpoint(best, last, "last") == ("", None)  # no last.ckpt (yet): nothing to name
    last.write_bytes(b"")
    assert choose_checkpoint(best, last, "last") == (str(last), None)
    assert choose_checkpoint(best, last, "best") == (str(tmp_path / "best.ckpt"), None)
    path, reason = choose_checkpoint(never, last, "best")
    assert path == str(last) and reason.startswith(
        "no best.ckpt: the monitored score val/maxboxacc was never"
    )
    path, reason = choose_checkpoint(None, last, "best")
    assert path == str(last) and reason.startswith(
        "checkpointing is off (--trainer.enable_checkpointing false)"
    )
