"""Shared set-up of the wsolevaluation conversion tests: an upstream checkpoint through the tool."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tools.convert_wsolevaluation import main as convert_main
from wsl.lit import WSLModule


@pytest.fixture
def convert_upstream(tmp_path: Path) -> Callable[..., WSLModule]:
    """``convert_upstream(state, architecture, large_feature_map, *flags, class_names="a,b,c,d",
    data_parallel=True, payload=None)``: the ``WSLModule`` that tools/convert_wsolevaluation.py (with
    ``flags``) writes to ``tmp_path/run/checkpoints/last.ckpt`` from ``state`` saved as upstream's main.py
    saves it: ``{architecture, epoch: 7, state_dict, optimizer: {}}`` updated by ``payload``, the keys
    ``module.`` prefixed with ``data_parallel`` (a DataParallel model). The module is loaded back from the
    checkpoint; its hyper-parameters must record the architecture and the feature map."""

    def convert(
        state: dict,
        architecture: str,
        large_feature_map: bool,
        *flags: str,
        class_names: str = "a,b,c,d",
        data_parallel: bool = True,
        payload: dict | None = None,
    ) -> WSLModule:
        source = tmp_path / "last_checkpoint.pth.tar"
        prefix = "module." if data_parallel else ""
        wrapped = {prefix + k: v for k, v in state.items()}
        saved = {"architecture": architecture, "epoch": 7, "state_dict": wrapped, "optimizer": {}}
        torch.save({**saved, **(payload or {})}, source)
        out = tmp_path / "run" / "checkpoints" / "last.ckpt"
        lfm = str(large_feature_map).lower()
        argv = ["--source", str(source), "--out", str(out), "--large-feature-map", lfm]
        assert convert_main([*argv, "--class-names", class_names, *flags]) == 0
        module = WSLModule.load_from_checkpoint(out, map_location="cpu")
        assert module.hparams.backbone == architecture
        assert module.hparams.large_feature_map is large_feature_map
        return module

    return convert
