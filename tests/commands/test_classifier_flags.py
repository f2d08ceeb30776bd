"""Review item D2 (issue 30): the ``--ckpt | --model`` flags of evaluate, export_cams and predict come from
one place (:mod:`wsl.commands.classifier_flags`), and the threshold of a ``--model`` classifier is the
argument its tool passes, not an attribute looked up on the options."""

from __future__ import annotations

import argparse

import pytest

from wsl.commands import evaluate, export_cams, predict
from wsl.commands.classifier_flags import (
    MODEL_FLAGS,
    add_model_flags,
    add_model_options,
    add_model_source,
    classifier_from_args,
)
from wsl.runs import DEFAULT_THRESHOLD

TOOLS = {"evaluate": evaluate, "export_cams": export_cams, "predict": predict}
MODEL_HELP = (
    "any classifier instead of a checkpoint: its CAMs are --cam-method's (default gradcam) on "
    "--cam-layer (default: its usual CAM layer)"
)


def _options(**changes) -> argparse.Namespace:
    """A tool's options for ``--model timm:resnet18 --num-classes 3`` (random weights: no download)."""
    fields = dict(
        model="timm:resnet18",
        pretrained=False,
        weights=None,
        num_classes=3,
        cam_method="native",
        cam_layer=None,
        class_names=None,
        image_size=32,
        device="cpu",
        threshold="0.9",  # a stale option of the same name: classifier_from_args must not read it
    )
    return argparse.Namespace(**{**fields, **changes})


@pytest.mark.parametrize(
    ("given", "expected"), [(None, DEFAULT_THRESHOLD), ("best", 0.5), ("auto", 0.5), ("0.3", 0.3)]
)
def test_the_classifier_s_threshold_is_the_argument(given, expected):
    args = _options()
    model = classifier_from_args(argparse.ArgumentParser(), args, threshold=given)
    assert model is not None and model.threshold == expected
    assert (model.cam_method, args.cam_method) == ("gradcam", "gradcam")  # native: gradcam, with a note


def test_a_bad_threshold_names_the_range():
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\)"):
        classifier_from_args(argparse.ArgumentParser(), _options(), threshold="2")


def test_ckpt_gives_no_classifier_and_refuses_the_model_flags(capsys):
    parser = argparse.ArgumentParser()
    assert classifier_from_args(parser, _options(model=None, num_classes=None), threshold=None) is None
    with pytest.raises(SystemExit):
        classifier_from_args(parser, _options(model=None, weights="w.pt"), threshold=None)
    assert "--pretrained, --weights and --num-classes build a --model" in capsys.readouterr().err


def test_add_model_options_requires_one_of_ckpt_and_model(capsys):
    parser = argparse.ArgumentParser()
    add_model_options(parser)
    assert parser.parse_args(["--ckpt", "a.ckpt"]).ckpt == "a.ckpt"
    for argv, message in (
        ([], "one of the arguments --ckpt --model is required"),
        (["--ckpt", "a", "--model", "b"], "not allowed with"),
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        assert message in capsys.readouterr().err


def test_the_model_source_joins_a_tool_s_own_group(capsys):
    parser = argparse.ArgumentParser(prog="tool")
    group = parser.add_mutually_exclusive_group()
    add_model_source(group, "a checkpoint", model_note="; needs --data")
    group.add_argument("--cams")
    add_model_flags(parser)
    assert "[--ckpt CKPT | --model timm:NAME|torchvision:NAME | --cams CAMS]" in parser.format_usage()
    with pytest.raises(SystemExit):
        parser.parse_args(["--model", "timm:resnet18", "--cams", "d"])
    assert "argument --cams: not allowed with argument --model" in capsys.readouterr().err
    assert parser.parse_args([]).ckpt is None  # optional here: the tool decides what is required
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["model"] == MODEL_HELP + "; needs --data" and helps["ckpt"] == "a checkpoint"


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_every_tool_has_the_same_model_flags(tool):
    module = TOOLS[tool]
    actions = {a.dest: a for a in module.build_parser()._actions}
    shared = {a.dest: a for a in _shared_actions()}
    for dest in ("pretrained", "weights", "num_classes"):
        assert (actions[dest].option_strings, actions[dest].help) == (
            shared[dest].option_strings,
            shared[dest].help,
        )
    note = "; needs --data" if tool == "evaluate" else ""
    assert (actions["model"].help, actions["model"].metavar) == (MODEL_HELP + note, shared["model"].metavar)
    assert MODEL_FLAGS.items() <= module.FLAGS.items()


def _shared_actions() -> list[argparse.Action]:
    parser = argparse.ArgumentParser()
    add_model_options(parser)
    return parser._actions
