"""Checks of the YAML config files given to ``tools/train.py --config FILE``, before LightningCLI reads them.

- **Alias bombs.** YAML aliases (``*a``) repeat a node without copying it, so a 1 KB file can describe
  billions of values ("billion laughs"); parsing is quick, but what follows (validation, ``--print_config``)
  expands them and never returns. :func:`load_config_file` counts the nodes of the file with every alias
  expanded, without expanding them, and refuses more than :data:`MAX_CONFIG_NODES` (or an alias that
  contains itself).
- **Empty or scalar sections.** ``model:`` with nothing under it, or ``trainer: 5``, gave a ``KeyError`` /
  ``AttributeError`` traceback or "Unexpected config"; :func:`check_config_files` names the section and
  what it expects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_CONFIG_NODES", "SECTIONS", "check_config_files", "config_paths", "load_config_file"]

#: The most YAML nodes (scalars, lists, mappings) a config may hold once its aliases are expanded; the
#: repository's largest config has a few hundred.
MAX_CONFIG_NODES = 100_000

#: The sections of a training config that must be mappings, and an example of their content.
SECTIONS = {
    "model": "the model's options, e.g. 'model:' then '  pool: gap' on the next line",
    "data": "the data module's options, e.g. 'data:' then '  data: synthetic' on the next line",
    "trainer": "Lightning Trainer options, e.g. 'trainer:' then '  max_epochs: 30' on the next line",
}


def _expanded_size(node: yaml.Node, path: Path, limit: int) -> int:
    """The number of nodes under ``node`` with every alias expanded; ValueError past ``limit``."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise ValueError(f"config {path}: a YAML alias contains itself; write the values out instead")
        open_nodes.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for child in n.value:
                total += size(child)
                if total > limit:
                    break
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k) + size(v)
                if total > limit:
                    break
        open_nodes.discard(key)
        if total > limit:
            raise ValueError(
                f"config {path}: its YAML aliases (*name) expand to more than {limit:,} values (an alias "
                "bomb?); write the values out instead of nesting aliases"
            )
        sizes[key] = total
        return total

    return size(node)


def load_config_file(path: str | Path, limit: int = MAX_CONFIG_NODES) -> Any:
    """The content of a YAML config file, after checking that its aliases expand to at most ``limit`` nodes.

    Raises:
        ValueError: the file cannot be read, or it holds more than ``limit`` nodes once aliases are
            expanded (or an alias that contains itself); the message names the file.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "c.yaml"
        >>> _ = path.write_text("a: &x [1, 2]\\nb: *x\\n")
        >>> load_config_file(path)
        {'a': [1, 2], 'b': [1, 2]}
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"config {path}: cannot be read ({err})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None
        _expanded_size(node, path, limit)
        return yaml.safe_load(text)
    except RecursionError:
        raise ValueError(f"config {path}: nested too deeply; write a flat YAML mapping") from None
    except yaml.YAMLError:
        return None  # not a plain YAML mapping: the command line's own parser reports it


def config_paths(argv: list[str]) -> list[Path]:
    """The files named by ``--config FILE`` / ``--config=FILE`` in ``argv`` that exist."""
    paths = []
    for k, arg in enumerate(argv):
        if arg == "--config" and k + 1 < len(argv):
            paths.append(Path(argv[k + 1]))
        elif arg.startswith("--config="):
            paths.append(Path(arg.partition("=")[2]))
    return [p for p in paths if p.is_file()]


def check_config_files(argv: list[str]) -> None:
    """Check every ``--config`` file of ``argv``: aliases bounded (:func:`load_config_file`), and the
    :data:`SECTIONS` it holds are non-empty mappings.

    Raises:
        ValueError: one line naming the file, the section and what it expects.
    """
    for path in config_paths(argv):
        content = load_config_file(path)
        if not isinstance(content, dict):
            continue  # empty or not a mapping: LightningCLI's own message is clear
        for name, expected in SECTIONS.items():
            if name not in content:
                continue
            value = content[name]
            if value is None:
                problem = "is empty"
            elif not isinstance(value, dict):
                problem = f"is the {type(value).__name__} {repr(value)[:60]}"
            else:
                continue
            raise ValueError(
                f"config {path}: section '{name}:' {problem}; expected a mapping of {expected}, or delete "
                "the section to keep the defaults"
            )
