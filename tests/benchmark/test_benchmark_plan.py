"""wsl.benchmark.plan: parsing, the runs and their train arguments; errors name the library's arguments."""

from __future__ import annotations

import pytest

from wsl.benchmark import plan as wp


def test_train_args_put_the_config_first_and_the_pool_kwargs_last(tmp_path):
    run = wp.plan_runs(["lse"], [2], tmp_path)[0]
    args = wp.train_args(run, "c.yaml", "synthetic", ["--trainer.max_epochs", "3"], {"beta": 10})
    assert args[:2] == ["--config", "c.yaml"] and args[-2:] == ["--model.pool_kwargs", '{"beta": 10}']
    assert args[args.index("--seed_everything") + 1] == "2" and args[args.index("--pool") + 1] == "lse"
    assert args[args.index("--run_dir") + 1] == str(tmp_path / "runs" / "lse-seed2")


def test_parsers_accept_lists():
    assert wp.parse_seeds([0, 3]) == [0, 3] and wp.parse_seeds(" 0, 1 ") == [0, 1]
    with pytest.raises(ValueError, match="seeds"):
        wp.parse_seeds([True])
    assert wp.parse_pool_kwargs(['lse={"beta": 10}'], ["lse"]) == {"lse": {"beta": 10}}


def test_make_plan_is_pool_major_and_gives_each_pool_its_own_kwargs(tmp_path):
    plan = wp.make_plan("gap,lse", [0, 1], tmp_path, data="synthetic", pool_kwargs={"lse": {"beta": 3}})
    assert [run.name for run in plan.runs] == ["gap-seed0", "gap-seed1", "lse-seed0", "lse-seed1"]
    assert plan.runs[2].results_path == tmp_path / "runs" / "lse-seed0" / "results.json"
    assert "--model.pool_kwargs" not in plan.train_args(plan.runs[0])
    assert plan.train_args(plan.runs[2])[-2:] == ["--model.pool_kwargs", '{"beta": 3}']
    assert plan.meta() == {
        "pools": ["gap", "lse"],
        "seeds": [0, 1],
        "data": "synthetic",
        "config": None,
        "extra_args": [],
        "pool_kwargs": {"lse": {"beta": 3}},
        "planned_runs": 4,
    }
    assert not (tmp_path / "runs").exists()  # planning writes nothing


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pools": "gap,weldn"}, r"^pools: unknown pool 'weldn'"),
        ({"seeds": "0,-1"}, r"^seeds: got '0,-1'"),
        ({"pool_kwargs": ["lse"]}, r"^pool_kwargs: got 'lse'; expected POOL=JSON"),
        ({"extra_args": ["--pool=gmp"]}, r"^'--pool' in extra_args is set by the benchmark"),
        ({"config": "/nonexistent.yaml"}, r"^config: '/nonexistent.yaml' is not a file"),
    ],
)
def test_errors_name_the_argument_not_a_command_line_flag(kwargs, message, tmp_path):
    arguments = {"pools": "gap,lse", "seeds": "0", "out": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=message) as info:
        wp.make_plan(**arguments)
    assert "--pools" not in str(info.value) and "--pool-kwargs" not in str(info.value)


def test_out_that_is_a_file_is_refused_by_the_plan(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(ValueError, match="^out: .* exists and is not a folder"):
        wp.make_plan("gap", "0", path)
