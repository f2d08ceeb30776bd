"""wsl.benchmark.plan: parsing, the runs of each stage and their train arguments; errors name the library's
arguments."""

from __future__ import annotations

import pytest

from wsl.benchmark import plan as wp
from wsl.benchmark.entries import GRIDS
from wsl.benchmark.options import BenchmarkOptions


def test_train_args_put_the_config_first_and_the_pool_kwargs_last(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("{}")
    extra = ["--trainer.max_epochs", "3"]
    plan = wp.make_plan(
        BenchmarkOptions(
            "lse",
            [2],
            tmp_path,
            config=str(config),
            data="synthetic",
            extra_args=extra,
            pool_kwargs={"lse": {"beta": 10}},
        )
    )
    run = plan.test_runs({})[0]
    args = plan.train_args(run)
    assert args[:2] == ["--config", str(config)] and args[-2:] == ["--model.pool_kwargs", '{"beta": 10}']
    assert args[args.index("--seed_everything") + 1] == "2" and args[args.index("--pool") + 1] == "lse"
    assert args[args.index("--run_dir") + 1] == str(tmp_path / "runs" / "lse_beta10-seed2")
    assert args[args.index("--checkpoint_select") + 1] == "last"
    assert args.index("--checkpoint_select") < args.index("--trainer.max_epochs")  # extra args override it
    assert "--model.method" not in args


def test_parsers_accept_lists():
    assert wp.parse_seeds([0, 3]) == [0, 3] and wp.parse_seeds(" 0, 1 ") == [0, 1]
    with pytest.raises(ValueError, match="seeds"):
        wp.parse_seeds([True])
    assert wp.parse_pool_kwargs(['lse={"beta": 10}'], ["lse"]) == {"lse": {"beta": 10}}


def test_the_grid_stage_trains_every_setting_at_the_first_seed(tmp_path):
    plan = wp.make_plan(BenchmarkOptions("gap,lse,has", [3, 1], tmp_path))
    grid = plan.grid_runs()
    assert [r.name for r in grid] == ["lse_beta2-seed3", "lse_beta5-seed3", "lse_beta10-seed3"]
    assert [r.pool_kwargs for r in grid] == GRIDS["lse"]
    test = plan.test_runs({"lse": {"beta": 5.0}})
    assert [r.name for r in test] == [
        "gap-seed3", "gap-seed1", "lse_beta5-seed3", "lse_beta5-seed1", "has-seed3", "has-seed1",
    ]  # fmt: skip
    assert test[2].run_dir == grid[1].run_dir  # the chosen setting's first seed is its grid run
    args = plan.train_args(test[4])
    assert args[args.index("--pool") + 1] == "gap" and args[args.index("--model.method") + 1] == "has"
    assert not (tmp_path / "runs").exists()  # planning writes nothing


def test_without_grid_or_with_fixed_kwargs_a_head_has_one_setting(tmp_path):
    plain = wp.make_plan(BenchmarkOptions("gap,lse", [0], tmp_path, grid=False))
    assert plain.grid_runs() == [] and [r.name for r in plain.test_runs({})] == ["gap-seed0", "lse-seed0"]
    fixed = wp.make_plan(BenchmarkOptions("lse", [0], tmp_path, pool_kwargs=['lse={"beta": 3}']))
    assert fixed.grid_runs() == [] and fixed.test_runs({})[0].name == "lse_beta3-seed0"
    assert fixed.meta()["pool_kwargs"] == {"lse": {"beta": 3}} and fixed.meta()["grid"] == {}


def test_posthoc_runs_read_their_source_seed_by_seed_and_the_center_is_seed_free(tmp_path):
    plan = wp.make_plan(BenchmarkOptions("has/lse,gradcam@has/lse,center", [0, 1], tmp_path, grid=True))
    runs = plan.test_runs({})
    assert [r.name for r in runs] == ["has-lse-seed0", "has-lse-seed1", "gradcam-on-has-lse-seed0",
                                      "gradcam-on-has-lse-seed1", "center"]  # fmt: skip
    assert runs[2].source_dir == runs[0].run_dir and runs[3].source_dir == runs[1].run_dir
    assert runs[4].seed is None and runs[4].entry.kind == "center"
    assert plan.meta()["entries"] == ["has/lse", "gradcam@has/lse", "center"]


def test_an_entry_with_its_own_schedule_gets_its_own_folders_and_max_epochs_last(tmp_path):
    """Issue 17: an entry still improving at the shared schedule is rerun at a longer one of its own."""
    extra = ["--trainer.max_epochs", "30"]
    plan = wp.make_plan(
        BenchmarkOptions("gap,has,gradcam@has,lse", [0, 1], tmp_path, extra_args=extra, epochs="has=60")
    )
    runs = {r.name: r for r in plan.test_runs({"lse": {"beta": 5.0}})}
    assert set(runs) == {"gap-seed0", "gap-seed1", "has_e60-seed0", "has_e60-seed1",
                         "gradcam-on-has_e60-seed0", "gradcam-on-has_e60-seed1",
                         "lse_beta5-seed0", "lse_beta5-seed1"}  # fmt: skip
    args = plan.train_args(runs["has_e60-seed1"])
    assert args[-2:] == ["--trainer.max_epochs", "60"]  # after the shared 30, so it wins
    assert "60" not in plan.train_args(runs["gap-seed1"])
    assert runs["gradcam-on-has_e60-seed0"].source_dir == runs["has_e60-seed0"].run_dir
    assert (
        runs["has_e60-seed0"].setting == "60 epochs"
        and runs["gradcam-on-has_e60-seed0"].setting == "60 epochs"
    )
    assert plan.meta()["epochs"] == {"has": 60}
    grid = wp.make_plan(BenchmarkOptions("lse", [0], tmp_path, epochs={"lse": 45})).grid_runs()
    assert [r.name for r in grid] == ["lse_beta2_e45-seed0", "lse_beta5_e45-seed0", "lse_beta10_e45-seed0"]
    assert grid[0].setting == "beta2, 45 epochs"
    assert wp.parse_epochs(["has=60", "gap=45"], ["gap", "has"]) == {"has": 60, "gap": 45}


def test_a_grid_at_the_shared_schedule_reuses_its_runs_and_trains_only_the_choice_at_its_own(tmp_path):
    """grid_schedule='shared': the grid's folders are the shared schedule's, the chosen setting gets _eN."""
    plan = wp.make_plan(BenchmarkOptions("lse", [0, 1], tmp_path, epochs="lse=60", grid_schedule="shared"))
    grid = plan.grid_runs()
    assert [r.name for r in grid] == ["lse_beta2-seed0", "lse_beta5-seed0", "lse_beta10-seed0"]
    assert all(r.epochs is None and "--trainer.max_epochs" not in plan.train_args(r) for r in grid)
    test = plan.test_runs({"lse": {"beta": 5.0}})
    assert [r.name for r in test] == ["lse_beta5_e60-seed0", "lse_beta5_e60-seed1"]
    assert plan.train_args(test[0])[-2:] == ["--trainer.max_epochs", "60"]
    assert {r.run_dir for r in grid}.isdisjoint(r.run_dir for r in test)  # seed 0 is trained again at 60
    assert plan.meta()["grid_schedule"] == "shared"
    with pytest.raises(ValueError, match=r"^grid_schedule: got 'long'; expected own or shared"):
        wp.make_plan(BenchmarkOptions("lse", [0], tmp_path, grid_schedule="long"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"entries": "gap,weldn"}, r"^entries: unknown entry 'weldn'"),
        ({"entries": "has/weldn"}, r"^entries: unknown pool 'weldn'"),
        ({"entries": "gradcm@gap,gap"}, r"^entries: unknown CAM method 'gradcm'"),
        ({"entries": "gradcam@gap"}, r"^entries: 'gradcam@gap' reads the checkpoints of 'gap'"),
        ({"entries": "gap,,lse"}, r"^entries: got"),
        ({"entries": "gap,gap"}, r"^entries: .* repeated"),
        ({"seeds": "0,-1"}, r"^seeds: got '0,-1'"),
        ({"pool_kwargs": ["lse"]}, r"^pool_kwargs: got 'lse'; expected POOL=JSON"),
        ({"pool_kwargs": ['kmax={"k": 1}']}, r"^pool_kwargs: pool 'kmax' .* is not benchmarked"),
        ({"extra_args": ["--pool=gmp"]}, r"^'--pool' in extra_args is set by the benchmark"),
        ({"extra_args": ["--model.method", "has"]}, r"^'--model.method' in extra_args is set"),
        ({"config": "/nonexistent.yaml"}, r"^config: '/nonexistent.yaml' is not a file"),
        ({"select_metric": "accuracy"}, r"^select_metric: got 'accuracy'; choose from map, "),
        ({"checkpoint_select": "first"}, r"^checkpoint_select: got 'first'"),
        ({"epochs": "center=60"}, r"^epochs: 'center' is not a trained entry of the benchmark"),
        ({"epochs": "gap=0"}, r"^epochs: gap='0' is not a positive number of epochs"),
        ({"epochs": "gap=6o"}, r"^epochs: gap='6o' is not a positive"),
        ({"epochs": "gap=60,gap=45"}, r"^epochs: 'gap' is given twice"),
    ],
)
def test_errors_name_the_argument_not_a_command_line_flag(kwargs, message, tmp_path):
    arguments = {"entries": "gap,lse", "seeds": "0", "out": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=message) as info:
        wp.make_plan(BenchmarkOptions(**arguments))
    assert "--entries" not in str(info.value) and "--pool-kwargs" not in str(info.value)


def test_out_that_is_a_file_is_refused_by_the_plan(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(ValueError, match="^out: .* exists and is not a folder"):
        wp.make_plan(BenchmarkOptions("gap", "0", path))


def test_shared_schedule_runs_are_the_own_schedule_entries_at_the_shared_one(tmp_path):
    plan = wp.make_plan(BenchmarkOptions("gap,has,lse", [0, 1], tmp_path, epochs="has=60,lse=45"))
    runs = plan.shared_schedule_runs({"lse": {"beta": 5.0}})
    assert [r.name for r in runs] == ["has-seed0", "has-seed1", "lse_beta5-seed0", "lse_beta5-seed1"]
    assert all(r.epochs is None for r in runs)
