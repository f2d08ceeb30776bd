"""wsl.benchmark.entries: the grammar of --entries, folder names, the declared grids."""

from __future__ import annotations

import pytest

from wsl.benchmark.entries import GRIDS, Entry, parse_entries, setting_tag
from wsl.pooling import POOLS, build_pool


def test_every_kind_of_entry_is_parsed_in_order():
    entries = parse_entries(
        ["weldon", "cutmix", "acol/lse", "layercam@acol/lse", "center"], method_pool="gmp"
    )
    assert entries == [
        Entry("weldon", "train", pool="weldon"),
        Entry("cutmix", "train", pool="gmp", method="cutmix"),
        Entry("acol/lse", "train", pool="lse", method="acol"),
        Entry("layercam@acol/lse", "posthoc", source="acol/lse", cam_method="layercam"),
        Entry("center", "center"),
    ]
    assert [e.slug for e in entries] == ["weldon", "cutmix", "acol-lse", "layercam-on-acol-lse", "center"]


@pytest.mark.parametrize("token", ["cam", "native@gap", "gap/lse"])
def test_plain_cam_native_and_pool_over_pool_are_not_entries(token):
    with pytest.raises(ValueError, match="^entries: unknown"):
        parse_entries(f"gap,{token}")


def test_every_grid_setting_builds_its_head():
    assert set(GRIDS) <= set(POOLS)
    for pool, settings in GRIDS.items():
        assert len(settings) == 3 and len({setting_tag(s) for s in settings}) == 3, pool
        for kwargs in settings:
            build_pool(pool, 3, **kwargs)


def test_setting_tags_are_folder_safe_and_drop_a_float_s_zero():
    assert setting_tag({}) == "" and setting_tag({"beta": 10.0}) == "beta10"
    assert setting_tag({"rap_weight": 0.001}) == "rap_weight0.001"
