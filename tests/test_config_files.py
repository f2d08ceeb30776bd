"""wsl.config_files: alias bombs and empty sections in ``--config`` files (issue 35 items 10 and 16)."""

from __future__ import annotations

import pytest

from tools.train import main as train_main
from wsl.config_files import check_config_files, load_config_file


def _bomb(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs": ``width ** levels`` strings (387,420,489 by default) in under 1 KB."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for k in range(1, levels):
        lines.append(f"l{k}: &l{k} [{', '.join([f'*l{k - 1}'] * width)}]")
    return "\n".join(lines) + f"\ntrainer:\n  plugins: *l{levels - 1}\n"


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


def test_an_alias_bomb_is_refused_without_expanding_it(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    assert path.stat().st_size < 1024
    with pytest.raises(ValueError, match=r"bomb\.yaml: its YAML aliases .* more than 100,000 values"):
        load_config_file(path)


def test_the_bound_counts_expanded_nodes_exactly(tmp_path):
    # l0: 1 list + 3 strings = 4 nodes; l1: 1 + 3 * 4 = 13; the mapping: 1 + 2 keys + 4 + 13 = 20.
    path = tmp_path / "c.yaml"
    path.write_text("l0: &a [x, x, x]\nl1: [*a, *a, *a]\n")
    assert load_config_file(path, limit=20) == {"l0": ["x"] * 3, "l1": [["x"] * 3] * 3}
    with pytest.raises(ValueError, match="more than 19 values"):
        load_config_file(path, limit=19)


def test_an_alias_that_contains_itself_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(ValueError, match=r"loop\.yaml: a YAML alias contains itself"):
        load_config_file(path)


def test_train_print_config_refuses_an_alias_bomb_in_one_line(tmp_path, capsys):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    assert train_main(["--config", str(path), "--print_config"]) == 2
    assert "bomb.yaml" in _one_error_line(capsys)


@pytest.mark.parametrize(
    ("text", "section", "problem"),
    [
        ("model:\n", "model", "is empty"),
        ("model: 3\n", "model", "is the int 3"),
        ("trainer:\n", "trainer", "is empty"),
        ("trainer: 5\n", "trainer", "is the int 5"),
        ("data:\n", "data", "is empty"),
        ("data: [1, 2]\n", "data", "is the list"),
    ],
)
def test_an_empty_or_scalar_section_is_one_error_line(tmp_path, capsys, text, section, problem):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"c\.yaml: section '{section}:' {problem}.*expected a mapping"):
        check_config_files(["--config", str(path)])
    run = tmp_path / "run"
    assert train_main([f"--config={path}", "--run_dir", str(run)]) == 2
    line = _one_error_line(capsys)
    assert f"section '{section}:'" in line and "expected a mapping" in line
    assert not run.exists()


def test_a_valid_config_passes(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  pool: gap\ntrainer: {max_epochs: 2}\ndata: {}\n")
    check_config_files(["--config", str(path), "--config", str(tmp_path / "absent.yaml")])
