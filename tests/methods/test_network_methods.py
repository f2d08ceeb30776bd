"""ADL and ACoL: their defining properties, and every method trained a few steps through tools/train.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.tiny_training import reproducible_tiny_args
from tools.train import main as train_main
from wsl.methods import METHODS
from wsl.methods.acol import ACoLNet, acol_erase_mask, normalize_maps
from wsl.methods.adl import ADL, adl_drop_mask


def test_adl_is_the_identity_in_eval_mode():
    layer = ADL(drop_rate=1.0, gamma=0.5).eval()
    x = torch.randn(2, 4, 5, 5)
    assert torch.equal(layer(x), x)


def test_adl_drop_branch_drops_exactly_above_gamma_max():
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    out = ADL(drop_rate=1.0, gamma=0.7).train()(x)
    attention = x.mean(dim=1, keepdim=True)
    peak = attention.amax(dim=(2, 3), keepdim=True)
    keep = attention < 0.7 * peak  # reference
    assert torch.equal(out, torch.where(keep, x, torch.zeros_like(x)))
    assert torch.equal(adl_drop_mask(attention, 0.7).bool(), keep)


def test_adl_importance_branch_is_the_sigmoid_of_the_attention():
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    out = ADL(drop_rate=0.0, gamma=0.7).train()(x)
    assert torch.allclose(out, x * torch.sigmoid(x.mean(dim=1, keepdim=True)))


def test_acol_erase_mask_is_the_thresholded_normalised_first_map():
    maps = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]], [[3.0, 3.0], [3.0, 3.0]]]])  # (1, 2, 2, 2)
    targets = torch.tensor([[True, False]])
    mask = acol_erase_mask(maps, targets, 0.5)
    # class 0 normalised: [[0, .25], [.5, 1]] -> erased where >= 0.5
    assert mask.tolist() == [[[[False, False], [True, True]]]]
    assert not acol_erase_mask(maps, torch.tensor([[False, False]]), 0.5).any()
    assert normalize_maps(maps)[0, 1].eq(0).all()  # a constant map normalises to 0


@pytest.mark.parametrize("layers", [0, 2])
def test_acol_test_map_is_the_max_of_both_normalised_branches(layers: int):
    torch.manual_seed(0)
    net = ACoLNet(
        3, erase_threshold=0.6, branch_layers=layers, backbone="lcnet_050", pool="gap", pretrained=False
    ).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        scores, fused = net(images)
        features = net.backbone(images)
        scores_a, maps_a = net.head(net.branch_a(features))
        norm_a = normalize_maps(maps_a)
        # Reference: per class c, B's map on features erased where A's own normalised map >= delta.
        want = torch.empty_like(fused)
        for c in range(3):
            erased = (norm_a[:, c : c + 1] >= 0.6).to(features.dtype)
            _, maps_b = net.head_b(net.branch_b(features * (1 - erased)))
            want[:, c] = torch.maximum(norm_a[:, c], normalize_maps(maps_b)[:, c])
    assert torch.equal(scores, scores_a)
    assert torch.allclose(fused, want, atol=1e-5)


def test_acol_branches_have_their_own_conv_layers_and_b_sees_the_erased_features():
    torch.manual_seed(0)
    net = ACoLNet(3, branch_layers=2, branch_width=16, backbone="lcnet_050", pool="gap", pretrained=False)
    d = net.backbone.out_channels
    convs = [m for m in net.branch_b if isinstance(m, torch.nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size) for m in convs] == [
        (d, 16, (3, 3)),
        (16, 16, (3, 3)),
    ]
    assert net.head.conv.in_channels == net.head_b.conv.in_channels == 16
    assert net.branch_a[0].weight.data_ptr() != net.branch_b[0].weight.data_ptr()
    seen = []
    net.branch_b.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    images = torch.randn(2, 3, 64, 64)
    out = net.branches(images, torch.tensor([[True, False, False], [False, True, True]]))
    features = net.backbone(images)
    assert out["erased"].any() and not out["erased"].all()
    assert torch.allclose(seen[0], features * (~out["erased"]).float())
    flat = ACoLNet(3, branch_layers=0, backbone="lcnet_050", pool="gap", pretrained=False)
    assert len(flat.branch_a) == 0 and flat.head_b.conv.in_channels == d


@pytest.mark.parametrize(
    "kwargs, field", [({"branch_layers": -1}, "branch_layers"), ({"branch_width": 0}, "branch_width")]
)
def test_acol_rejects_bad_branch_options_by_name(kwargs: dict, field: str):
    with pytest.raises(ValueError, match=field):
        METHODS["acol"](**kwargs)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_and_is_scored_through_the_cli(
    method: str, synthetic_voc_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    run_dir = tmp_path / method
    code = train_main(
        reproducible_tiny_args(synthetic_voc_root, run_dir, "--pool", "gap", "--method", method)
    )
    assert code == 0
    results = json.loads((run_dir / "results.json").read_text())
    assert 0.0 <= results["test"]["maxboxacc"] <= 1.0 and results["global_step"] == 2
    assert "Test split" in capsys.readouterr().out
