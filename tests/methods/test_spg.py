"""SPG as wsolevaluation trains it, against the independent reference of tests/spg_reference.py.

The reference follows upstream's wsol/method/spg.py and wsol/resnet.py ``ResNetSpg`` (commit 96f4b88) from
their rules, sharing no code with wsl. Upstream resizes every map to 224 × 224 (its crop size), wsl to the
input's size, so the tests run at 64 px with the reference resizing to 64 (the same rule at 224).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from spg_reference import (
    ReferenceInceptionSpg,
    ReferenceResNetSpg,
    ReferenceVggSpg,
    ref_loss,
    ref_mask,
    ref_normalize,
    ref_term,
    ref_upsample,
    wsl_state_from_reference,
)
from wsol_metadata import write_standin

from wsl.cli import train
from wsl.lit import WSLModule
from wsl.methods import METHODS, get_method
from wsl.methods.spg import (
    DEFAULT_THRESHOLDS,
    GENERIC_LAYOUT,
    SPGNet,
    layout_for,
    spg_attention,
    spg_fused_attention,
    spg_loss_term,
    spg_mask,
)

TOL = {"rtol": 1e-6, "atol": 1e-6}
REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------------------
# The masks and the loss terms on hand-checkable maps.


def test_mask_keeps_the_high_threshold_with_30_foreground_pixels_and_marks_the_rest():
    attention = torch.full((1, 1, 8, 8), 0.5, dtype=torch.float64)
    attention[0, 0, :4, :8] = 0.9  # 32 pixels > 0.7
    attention[0, 0, 7, :] = 0.0  # 8 pixels < 0.01
    mask = spg_mask(attention, 0.7, 0.01)
    expected = torch.full((8, 8), 255.0, dtype=torch.float64)
    expected[:4] = 1.0
    expected[7] = 0.0
    torch.testing.assert_close(mask[0, 0], expected, rtol=0, atol=0)
    torch.testing.assert_close(mask, ref_mask(attention, 0.7, 0.01), rtol=0, atol=0)


def test_mask_falls_back_to_seven_tenths_of_the_maximum_under_30_pixels_per_image():
    attention = torch.zeros((2, 1, 8, 8), dtype=torch.float64)
    attention[0, 0, 0, :5] = torch.tensor([0.9, 0.8, 0.64, 0.62, 0.5])  # 2 > 0.7: threshold 0.63
    attention[1, 0, :4, :8] = 0.75  # 32 > 0.7: threshold stays 0.7
    attention[1, 0, 4, 0] = 0.69
    mask = spg_mask(attention, 0.7, 0.01)
    assert mask[0, 0, 0, :5].tolist() == [1.0, 1.0, 1.0, 255.0, 255.0]  # 0.62 < 0.63 ≤ 0.64
    assert int((mask[0] == 0).sum()) == 64 - 5  # the zeros are < 0.01: background
    assert bool((mask[1, 0, :4] == 1).all()) and mask[1, 0, 4, 0] == 255.0
    torch.testing.assert_close(mask, ref_mask(attention, 0.7, 0.01), rtol=0, atol=0)


def test_background_overrides_the_fallback_foreground_of_a_faint_map():
    attention = torch.full((1, 1, 4, 4), 0.005, dtype=torch.float64)
    attention[0, 0, 0, 0] = 0.008  # max 0.008: fallback threshold 0.0056, but everything is < 0.01
    assert bool((spg_mask(attention, 0.7, 0.01) == 0).all())


@pytest.mark.parametrize("high, low", DEFAULT_THRESHOLDS)
def test_each_loss_term_equals_the_reference(high, low):
    torch.manual_seed(0)
    logits = torch.randn(3, 1, 7, 7, dtype=torch.float64)
    guide = torch.rand(3, 1, 28, 28, dtype=torch.float64) ** 3
    got = spg_loss_term(logits, guide, high, low)
    torch.testing.assert_close(got, ref_term(logits, guide, high, low, 28), **TOL)
    assert 0.05 < float((spg_mask(guide, high, low) == 255).double().mean()) < 0.95  # a real mix


def test_a_loss_term_with_every_pixel_ignored_is_zero_not_nan():
    guide = torch.zeros((1, 1, 8, 8), dtype=torch.float64)  # never > 0.7 · max = 0, never < low = 0
    logits = torch.randn(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    assert bool((ref_mask(guide, 0.7, 0.0) == 255).all())  # upstream: a mean over nothing, NaN
    loss = spg_loss_term(logits, guide, 0.7, 0.0)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_attention_and_fused_attention_equal_the_reference():
    torch.manual_seed(0)
    maps = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    labels = torch.tensor([3, 1])
    targets = torch.nn.functional.one_hot(labels, 4).bool()
    expected = ref_normalize(ref_upsample(maps, 20)[torch.arange(2), labels].unsqueeze(1))
    torch.testing.assert_close(spg_attention(maps, targets, (20, 20)).double(), expected, **TOL)
    b1, b2 = torch.randn(2, 1, 5, 5, dtype=torch.float64), torch.randn(2, 1, 3, 3, dtype=torch.float64)
    fused = (torch.sigmoid(ref_upsample(b1, 20)) + torch.sigmoid(ref_upsample(b2, 20))) / 2
    torch.testing.assert_close(spg_fused_attention(b1, b2, (20, 20)), fused, **TOL)


def test_attention_of_a_constant_map_is_zero_and_multi_label_takes_the_max():
    maps = torch.zeros(1, 3, 4, 4)
    maps[0, 1, 0, 0] = 1.0
    maps[0, 2, 3, 3] = 1.0
    assert torch.equal(spg_attention(maps[:, :1], torch.tensor([[True]]), (4, 4)), torch.zeros(1, 1, 4, 4))
    both = spg_attention(maps, torch.tensor([[False, True, True]]), (4, 4))
    assert both[0, 0, 0, 0] == 1.0 and both[0, 0, 3, 3] == 1.0 and both[0, 0, 1, 1] == 0.0


# ---------------------------------------------------------------------------------------------------------
# The network: same weights → upstream's logits, CAMs, branch maps and loss.


@pytest.fixture(scope="module", params=[True, False], ids=["lfm", "no-lfm"])
def pair(request):
    large_feature_map = request.param
    reference = ReferenceResNetSpg(5, large_feature_map).double()
    net = SPGNet(num_classes=5, backbone="resnet50", pool="gap", large_feature_map=large_feature_map)
    net.load_state_dict(wsl_state_from_reference(reference), strict=True)
    return net.double(), reference, large_feature_map


def test_resnet50_spg_logits_cams_and_branches_equal_the_reference(pair):
    net, reference, large_feature_map = pair
    torch.manual_seed(1)
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    labels = torch.tensor([1, 4])
    net.eval(), reference.eval()
    with torch.no_grad():
        ref = reference(images, labels, 64)
        scores, class_maps = net(images)
        out = net.branches(images)
    side = 8 if large_feature_map else 4
    assert class_maps.shape == (2, 5, side, side)
    torch.testing.assert_close(scores, ref["logits"], **TOL)
    torch.testing.assert_close(class_maps[torch.arange(2), labels], ref["cams"], **TOL)
    for key in ("b1", "b2", "c"):
        torch.testing.assert_close(out[key], ref[f"logits_{key}"], **TOL)
    assert ref["logits"].std() > 0.1 and ref["cams"].std() > 1e-3 and ref["logits_b1"].std() > 1e-3


def test_resnet50_spg_training_loss_and_its_gradients_equal_the_reference(pair):
    net, reference, _ = pair
    torch.manual_seed(2)
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    labels = torch.tensor([0, 3])
    net.eval(), reference.eval()  # BN on its running statistics: no state changes between the two passes

    def cross_entropy(
        scores, onehot, pool=None
    ):  # WSLModule.loss for single-label data (gap: no regulariser)
        return torch.nn.functional.cross_entropy(scores, onehot.argmax(dim=1))

    onehot = torch.nn.functional.one_hot(labels, 5).double()
    got = get_method("spg").training_loss(net, images, onehot, cross_entropy)
    expected = ref_loss(reference(images, labels, 64), labels, 64)
    torch.testing.assert_close(got, expected, **TOL)
    got.backward()
    expected.backward()
    pairs = [
        (net.head.conv.weight, reference.SPG_A4.weight),
        (net.spg_b_shared[0].weight, reference.SPG_B_shared[0].weight),
        (net.spg_c[2].weight, reference.SPG_C[2].weight),
        (net.backbone.body.layer3[2].conv1.weight, reference.SPG_A2[1].conv1.weight),
    ]
    for a, b in pairs:
        torch.testing.assert_close(a.grad, b.grad, **TOL)
        assert b.grad.abs().max() > 0


def test_resnet_spg_trains_branches_and_classifier_at_the_backbone_lr_as_upstream():
    # Upstream main.py:141-158: ResNet's x10 group is parameters named layer4.* / fc.* only; SPG_* are not.
    module = WSLModule(
        num_classes=3,
        backbone="resnet18",
        pool="gap",
        method="spg",
        out_index=-1,
        lr=1.0,
        backbone_lr=0.1,
        head_lr_stages=1,
        scheduler="none",
    )
    optimizer = module.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    names = {id(p): n for n, p in module.net.named_parameters()}
    by_lr = {g["lr"]: {names[id(p)] for p in g["params"]} for g in optimizer.param_groups}
    assert all(n.startswith("backbone.body.layer4.") for n in by_lr[1.0])
    assert {n.split(".")[0] for n in by_lr[0.1]} == {
        "backbone",
        "head",
        "spg_b1",
        "spg_b2",
        "spg_b_shared",
        "spg_c",
    }
    assert sum(len(v) for v in by_lr.values()) == len(names)


def test_generic_layout_taps_the_third_and_second_to_last_stages_and_trains_at_the_head_lr():
    assert layout_for("resnet50.tv_in1k").name == "resnet" and layout_for("lcnet_050") is GENERIC_LAYOUT
    net = SPGNet(num_classes=3, backbone="resnet18", pool="gap", out_index=3, layout=GENERIC_LAYOUT)
    stages = dict(net.backbone.stages)
    assert net._taps == (stages["layer1"], stages["layer2"])
    assert net.spg_b1[0].in_channels == 64 and net.spg_b2[0].in_channels == 128
    assert net.spg_c[0].in_channels == 256 and net.base_lr_parameters() == []
    out = net.train().branches(torch.randn(2, 3, 64, 64))
    assert (
        out["b1"].shape == (2, 1, 16, 16)
        and out["b2"].shape == (2, 1, 8, 8)
        and out["c"].shape == (2, 1, 4, 4)
    )


def test_spg_eval_forward_is_the_plain_wsl_forward():
    net = SPGNet(num_classes=3, backbone="resnet18", pool="gap").eval()
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        scores, maps = net(images)
        plain = net.head(net.backbone(images))
    assert torch.equal(scores, plain[0]) and torch.equal(maps, plain[1])


def test_spg_is_registered_with_upstreams_thresholds():
    assert "spg" in METHODS
    assert get_method("spg").options() == {"thresholds": [[0.7, 0.01], [0.5, 0.05], [0.7, 0.1]]}
    assert get_method("spg", thresholds=[[0.6, 0.0], [0.5, 0.1], [1, 0]]).thresholds[2] == (1.0, 0.0)


@pytest.mark.parametrize(
    "thresholds", [[[0.7, 0.01]], [[0.7, 0.01], [0.5, 0.05], [1.5, 0.1]], "high", [[0.7], [0.5], [0.7]]]
)
def test_spg_rejects_bad_thresholds_by_name(thresholds):
    with pytest.raises(ValueError, match=r"spg: thresholds must be three \(high, low\) pairs"):
        get_method("spg", thresholds=thresholds)


def test_spg_on_a_too_short_backbone_names_the_stages():
    with pytest.raises(ValueError, match=r"spg \(resnet layout\).*out_index -1"):
        SPGNet(num_classes=3, backbone="resnet18", pool="gap", out_index=1)
    with pytest.raises(ValueError, match=r"spg \(generic layout\) taps feature stage -3.*larger out_index"):
        SPGNet(num_classes=3, backbone="resnet18", pool="gap", out_index=1, layout=GENERIC_LAYOUT)


def test_spg_runs_the_cub_resnet50_cell_on_stand_ins_of_the_real_metadata(tmp_path):
    """configs/wsol/cub/resnet50.yaml with method spg: setup, 2 steps, validation and test (CPU, no weights;
    112 px keeps the 1024-channel branches cheap, the rule is the same at 224)."""
    root, meta = write_standin(
        "CUB", tmp_path / "images"
    )  # train 2, val 1, test 1 image per class, 2 classes
    args = ["--config", str(REPO / "configs" / "wsol" / "cub" / "resnet50.yaml"), "--model.method", "spg"]
    args += ["--data.data", f"wsol:CUB:{root}:metadata={meta}:num_val_sample_per_class=0"]
    args += ["--model.pretrained", "false", "--data.batch_size", "2", "--data.num_workers", "0"]
    args += ["--data.image_size", "112", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2"]
    args += ["--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"]
    args += ["--run_dir", str(tmp_path / "run")]
    results = train(args)
    assert results["global_step"] == 2 and results["epochs"] == 1
    assert list(results["test_by_protocol"]) == ["wsolevaluation", "original"]
    assert 0.0 <= results["test_by_protocol"]["wsolevaluation"]["maxboxacc_v2"] <= 1.0
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert saved["hyper_parameters"]["method"] == "spg"
    assert any(key.startswith("net.spg_b_shared.") for key in saved["state_dict"])


@pytest.mark.parametrize("large_feature_map", [True, False])
def test_inception_v3_spg_logits_cams_and_branches_equal_the_reference(large_feature_map, tmp_path):
    reference = ReferenceInceptionSpg(4, large_feature_map)
    path = tmp_path / "inception_v3_google.pth"
    torch.save(reference.torchvision_state(), path)
    net = SPGNet(
        num_classes=4,
        backbone="inception_v3",
        pool="gap",
        pretrained=str(path),
        large_feature_map=large_feature_map,
    )
    assert net.layout.name == "inception_v3" and net.base_lr_parameters() == []
    modules = dict(net.named_modules())
    with torch.no_grad():
        for name, conv in reference.added_layers().items():
            modules[name].weight.copy_(conv.weight)
            modules[name].bias.copy_(conv.bias)
    net, reference = net.double().eval(), reference.double().eval()
    torch.manual_seed(1)
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    labels = torch.tensor([1, 3])
    with torch.no_grad():
        ref = reference(images, labels)
        scores, class_maps = net(images)
        out = net.branches(images)
    torch.testing.assert_close(scores, ref["logits"], **TOL)
    torch.testing.assert_close(class_maps[torch.arange(2), labels], ref["cams"], **TOL)
    for key in ("b1", "b2", "c"):
        torch.testing.assert_close(out[key], ref[f"logits_{key}"], **TOL)
    assert ref["logits"].std() > 1e-3 and ref["logits_b2"].std() > 1e-3


def test_inception_v3_spg_needs_wsolevaluations_network():
    with pytest.raises(ValueError, match=r"spg \(inception_v3 layout\).*large_feature_map true or false"):
        SPGNet(num_classes=3, backbone="inception_v3", pool="gap")


@pytest.mark.parametrize("large_feature_map", [True, False])
def test_vgg16_spg_logits_cams_and_branches_equal_the_reference(large_feature_map):
    reference = ReferenceVggSpg(4, large_feature_map)
    net = SPGNet(num_classes=4, backbone="vgg16", pool="gap", large_feature_map=large_feature_map)
    assert net.layout.name == "vgg16" and net.backbone.stride == (8 if large_feature_map else 16)
    net.load_state_dict(reference.wsl_state(), strict=True)
    net, reference = net.double().eval(), reference.double().eval()
    torch.manual_seed(1)
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    labels = torch.tensor([2, 0])
    with torch.no_grad():
        ref = reference(images, labels)
        scores, class_maps = net(images)
        out = net.branches(images)
    torch.testing.assert_close(scores, ref["logits"], **TOL)
    torch.testing.assert_close(class_maps[torch.arange(2), labels], ref["cams"], **TOL)
    for key in ("b1", "b2", "c"):
        torch.testing.assert_close(out[key], ref[f"logits_{key}"], **TOL)
    assert ref["logits"].std() > 1e-3 and ref["logits_b1"].std() > 1e-4


def test_vgg16_spg_keeps_the_pretrained_convs_and_head_lr_stages_1_is_upstreams_group():
    net = SPGNet(num_classes=3, backbone="vgg16", pool="gap", large_feature_map=True)
    body = net.backbone.body
    assert [type(m).__name__ for m in body.features][-1] == "MaxPool2d" and len(body.features) == 17
    assert isinstance(body.Pool4, torch.nn.Identity) and net.head.conv.in_channels == 512
    early, late = net.backbone.split_last_stages(1)
    names = {id(p): n for n, p in body.named_parameters()}
    assert {names[id(p)].split(".")[0] for p in late} == {"SPG_A_1", "SPG_A_2", "SPG_A_3"}
    assert {names[id(p)].split(".")[0] for p in early} == {"features"}


def test_vgg16_spg_needs_wsolevaluations_network():
    with pytest.raises(ValueError, match=r"spg \(vgg16 layout\).*large_feature_map true or false"):
        SPGNet(num_classes=3, backbone="vgg16", pool="gap")
