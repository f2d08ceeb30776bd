"""wsl.benchmark.selection: val curves from the CSV logs, the choice on val, the convergence check."""

from __future__ import annotations

import pytest

from wsl.benchmark import selection as ws
from wsl.benchmark.options import BenchmarkOptions
from wsl.benchmark.plan import make_plan


def write_metrics(run_dir, version, lines):
    folder = run_dir / "logs" / f"version_{version}"
    folder.mkdir(parents=True, exist_ok=True)
    text = "epoch,step,train/loss,val/maxboxacc,val/map\n" + "".join(f"{line}\n" for line in lines)
    (folder / "metrics.csv").write_text(text)


def test_val_curve_reads_every_version_in_order_the_later_one_winning(tmp_path):
    write_metrics(tmp_path, 0, ["0,1,0.9,,", "4,9,,0.2,0.5", "9,19,,0.3,0.6"])
    write_metrics(tmp_path, 10, ["14,29,,0.45,0.7"])
    write_metrics(tmp_path, 1, ["9,19,,0.35,0.6"])  # a resume that redid epoch 9
    assert ws.val_curve(tmp_path, "maxboxacc") == [(4, 0.2), (9, 0.35), (14, 0.45)]
    assert ws.val_curve(tmp_path, "pxap") == []


def test_val_curve_reads_a_run_record_without_logs_and_prefers_the_logs(tmp_path):
    """docs/benchmark_results keeps RUN/metrics.csv only; a benchmark resumed from it keeps its curves."""
    text = "epoch,step,val/maxboxacc\n4,9,0.2\n9,19,0.4\n"
    (tmp_path / "metrics.csv").write_text(text)
    assert ws.val_curve(tmp_path, "maxboxacc") == [(4, 0.2), (9, 0.4)]
    write_metrics(tmp_path, 0, ["4,9,,0.25,0.5"])
    assert ws.val_curve(tmp_path, "maxboxacc") == [(4, 0.25)]


@pytest.mark.parametrize(
    ("curve", "gain"),
    [
        ([(4, 0.2), (9, 0.5), (14, 0.52)], 0.02),  # the best of epochs <= 9.33 is 0.5
        ([(4, 0.6), (9, 0.5), (14, 0.55)], -0.05),  # an early peak counts
        ([(29, 0.4), (59, 0.5), (89, 0.8)], 0.3),  # 59 <= 59.33: the best early value is 0.5
        ([(5, 0.3)], None),
    ],
)
def test_last_third_gain_by_hand(curve, gain):
    result = ws.last_third_gain(curve)
    assert result == pytest.approx(gain) if gain is not None else result is None


def test_choose_settings_keeps_the_best_final_val_score_and_the_first_on_a_tie(tmp_path):
    plan = make_plan(BenchmarkOptions("lse,kmax", [0], tmp_path))
    grid = plan.grid_runs()
    finals = {"lse_beta2": 0.4, "lse_beta5": 0.6, "lse_beta10": 0.5, "kmax_k0.05": 0.3, "kmax_k0.1": 0.3,
              "kmax_k0.3": float("nan")}  # fmt: skip
    for run in grid:
        write_metrics(
            run.run_dir, 0, ["4,9,,0.9,0.1", f"9,19,,{finals[run.name.removesuffix('-seed0')]},0.2"]
        )
    candidates = {"lse": grid[:3], "kmax": grid[3:]}
    chosen, table = ws.choose_settings(candidates, "maxboxacc")
    assert chosen == {"lse": {"beta": 5.0}, "kmax": {"k": 0.05}}  # the final point, not the early 0.9
    assert [(r["setting"], r["chosen"]) for r in table[:3]] == [
        ("beta2", False),
        ("beta5", True),
        ("beta10", False),
    ]
    assert [r["chosen"] for r in table[3:]] == [True, False, False]


def test_a_grid_run_without_validation_is_a_clear_error(tmp_path):
    run = make_plan(BenchmarkOptions("lse", [0], tmp_path)).grid_runs()[0]
    with pytest.raises(ValueError, match=r"^select_metric: run .*lse_beta2-seed0 has no val/pxap"):
        ws.choose_settings({"lse": [run]}, "pxap")


def test_convergence_averages_the_seeds_and_flags_a_run_still_improving(tmp_path):
    rows = []
    for seed, values in ((0, (0.2, 0.3, 0.5)), (1, (0.3, 0.4, 0.5))):
        write_metrics(
            tmp_path / f"a{seed}", 0, [f"{e},0,,{v},0" for e, v in zip((4, 9, 14), values, strict=True)]
        )
        rows.append({"entry": "a", "kind": "train", "run_dir": str(tmp_path / f"a{seed}")})
    rows.append({"entry": "center", "kind": "center", "run_dir": str(tmp_path / "center")})
    info = ws.convergence(rows, "maxboxacc")
    assert list(info) == ["a"]
    assert info["a"]["epochs"] == [4, 9, 14] and info["a"]["mean"] == pytest.approx([0.25, 0.35, 0.5])
    assert (
        info["a"]["gain"] == pytest.approx(0.15) and info["a"]["still_improving"] and info["a"]["runs"] == 2
    )
