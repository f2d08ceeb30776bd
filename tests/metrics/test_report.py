"""The one results table: percentages, dashes for missing keys, threshold keys dropped."""

from __future__ import annotations

from wsl.metrics import format_table


def test_format_table_prints_percentages_and_dashes():
    table = format_table([("a", {"map": 0.5, "pxap": 0.25}), ("b", {"map": 1.0})])
    assert table.splitlines() == [
        "| run | map | pxap |",
        "|---|---:|---:|",
        "| a | 50.0 | 25.0 |",
        "| b | 100.0 | – |",
    ]


def test_format_table_rounds_to_one_decimal_and_keeps_first_seen_key_order():
    table = format_table([("x", {"b": 0.12345}), ("y", {"a": 0.6789, "b": 0.0})])
    assert table.splitlines()[0] == "| run | b | a |"
    assert table.splitlines()[2:] == ["| x | 12.3 | – |", "| y | 0.0 | 67.9 |"]


def test_format_table_drops_threshold_keys_unless_asked():
    results = {"maxboxacc": 0.75, "maxboxacc_threshold": 0.3, "pointing_game": 0.5}
    table = format_table([("run", results)])
    assert "threshold" not in table
    assert table.splitlines()[2] == "| run | 75.0 | 50.0 |"
    asked = format_table([("run", results)], keys=["maxboxacc_threshold", "maxboxacc"])
    assert asked.splitlines() == [
        "| run | maxboxacc_threshold | maxboxacc |",
        "|---|---:|---:|",
        "| run | 30.0 | 75.0 |",
    ]
