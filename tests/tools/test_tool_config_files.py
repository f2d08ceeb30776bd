"""Every tool but train (LightningCLI's own) and benchmark (whose --config is the training config of each run)
takes ``--config FILE`` and ``--print_config``: the printed file, read back, gives the same options."""

from __future__ import annotations

import importlib

import jsonargparse
import pytest
import yaml

from wsl.commands import SUBCOMMANDS

TOOLS = {name: module for name, module in SUBCOMMANDS.items() if name not in ("train", "benchmark")}

# Arguments each tool needs to parse (no file is opened at parse time).
ARGS = {
    "evaluate": ["--ckpt", "run/best.ckpt", "--split", "val", "--no-progress"],
    "export": ["--ckpt", "run/best.ckpt", "--out", "cams", "--limit", "4"],
    "predict": ["--ckpt", "run/best.ckpt", "--images", "photos", "--out", "pred", "--top-k", "2"],
    "explain": ["--model", "timm:resnet18", "--images", "photos", "--out", "cams"],
    "convert": [
        "--source",
        "upstream.pth.tar",
        "--out",
        "converted.ckpt",
        "--large-feature-map",
        "true",
        "--class-names",
        "a,b",
    ],
    "make-synthetic": ["--out", "shapes", "--num-train", "8"],
    "check-tested": ["runs/x"],
}


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_print_config_then_config_gives_the_same_options(name, tmp_path, capsys):
    parser = importlib.import_module(TOOLS[name]).build_parser()
    assert isinstance(parser, jsonargparse.ArgumentParser)
    given = parser.parse_args(ARGS[name])
    with pytest.raises(SystemExit) as done:
        parser.parse_args([*ARGS[name], "--print_config"])
    assert done.value.code in (0, None)
    printed = capsys.readouterr().out
    (tmp_path / "options.yaml").write_text(printed)
    assert yaml.safe_load(printed)  # a YAML mapping of the options
    again = parser.parse_args(["--config", str(tmp_path / "options.yaml")])
    drop = {"config", "__path__"}
    assert {k: v for k, v in vars(again).items() if k not in drop} == {
        k: v for k, v in vars(given).items() if k not in drop
    }


def test_a_flag_after_the_config_file_overrides_it(tmp_path):
    parser = importlib.import_module(TOOLS["export"]).build_parser()
    (tmp_path / "export.yaml").write_text("ckpt: a.ckpt\nout: cams\nlimit: 4\n")
    args = parser.parse_args(["--config", str(tmp_path / "export.yaml"), "--limit", "32"])
    assert (args.ckpt, args.out, args.limit) == ("a.ckpt", "cams", 32)
