"""The model card (``README.md``) of a model shared on the Hugging Face Hub (:mod:`wsl.hub`).

A card is YAML front matter that the Hub indexes, then Markdown::

    ---
    library_name: wsol-lightning
    tags: [weakly-supervised-object-localization, class-activation-maps, <pool>, <backbone>, <method>]
    datasets: [<dataset>]
    metrics: [<every test score of results.json>]
    model-index: [{name, results: [{task, dataset, metrics: [{type, value, name}]}]}]
    ---

The body says what the model is (backbone, pooling head, WSOL method, classes, input size, threshold), its
test scores per evaluation frame (percentages, as the tables of ``tools/train.py``), the recipe card of
the configuration (:func:`wsl.recipe.recipe_card`, for wsolevaluation's architectures), a CAM picture when
one is given and how to load it. Everything comes from ``config.json`` of
:func:`wsl.serving.save_pretrained` and the run's ``results.json``; nothing is fetched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["LIBRARY_NAME", "card_metadata", "dataset_name", "model_card", "scores_of"]

#: ``library_name`` of the card: the distribution's name.
LIBRARY_NAME = "wsol-lightning"
PYPI_URL = "https://pypi.org/project/wsol-lightning/"
BASE_TAGS = ["weakly-supervised-object-localization", "class-activation-maps", "wsol", "pytorch-lightning"]


def dataset_name(data_spec: str | None) -> str | None:
    """The dataset of a ``--data`` spec: ``wsol:CUB:root`` → ``CUB``, ``voc:data/VOC2007`` → ``VOC2007``.

    Example:
        >>> dataset_name("wsol:CUB:data/CUB:metadata=m"), dataset_name("voc:data/VOC2007/")
        ('CUB', 'VOC2007')
        >>> dataset_name(None) is None
        True
        >>> dataset_name("synthetic:easy")
        'synthetic'
    """
    if not data_spec:
        return None
    kind, _, rest = data_spec.partition(":")
    if kind == "synthetic" or not rest:
        return kind
    head = rest.partition(":")[0] if kind == "wsol" and ":" in rest else rest
    return head.rstrip("/").rsplit("/", 1)[-1] or kind


def scores_of(results: Mapping[str, Any] | None) -> dict[str, dict[str, float]]:
    """``{frame: {metric: fraction}}`` of a ``results.json``: its ``test_by_protocol`` (else ``test`` as the
    ``original`` frame), without the loss, the thresholds and undefined (null/NaN) scores."""
    if not results:
        return {}
    frames = results.get("test_by_protocol") or ({"original": results["test"]} if results.get("test") else {})
    out: dict[str, dict[str, float]] = {}
    for frame, scores in frames.items():
        kept = {
            name: float(value)
            for name, value in (scores or {}).items()
            if name != "loss"
            and not name.endswith("_threshold")
            and isinstance(value, int | float)
            and math.isfinite(value)
        }
        if kept:
            out[frame] = kept
    return out


def card_metadata(config: Mapping[str, Any], results: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    """The YAML front matter: library, tags, datasets, metrics and a ``model-index`` of the test scores."""
    hp = config.get("hyper_parameters", {})
    dataset = dataset_name((results or {}).get("data"))
    scores = scores_of(results)
    extra = [str(hp[key]) for key in ("pool", "backbone", "method") if hp.get(key)]
    meta: dict[str, Any] = {
        "library_name": LIBRARY_NAME,
        "tags": list(dict.fromkeys([*BASE_TAGS, *extra])),
        "pipeline_tag": "image-classification",
    }
    if dataset:
        meta["datasets"] = [dataset]
    if scores:
        meta["metrics"] = sorted({metric for frame in scores.values() for metric in frame})
        meta["model-index"] = [{"name": name, "results": _index_results(scores, dataset)}]
    return meta


TASK = {"type": "object-localization", "name": "Weakly supervised object localization"}


def _index_results(scores: dict[str, dict[str, float]], dataset: str | None) -> list[dict[str, Any]]:
    """One model-index result per evaluation frame, its scores in percent."""
    return [
        {
            "task": dict(TASK),
            "dataset": {"name": f"{dataset or 'test split'} ({frame} frame)", "type": dataset or ""},
            "metrics": [
                {"type": metric, "value": round(100 * value, 2), "name": f"{metric} (%)"}
                for metric, value in frame_scores.items()
            ],
        }
        for frame, frame_scores in scores.items()
    ]


def _fmt(value: Any) -> str:
    """A stored number as text: 4 significant digits (thresholds are float32 in results.json)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _scores_table(scores: dict[str, dict[str, float]]) -> list[str]:
    metrics = sorted({m for frame in scores.values() for m in frame})
    lines = ["| frame | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for frame, values in scores.items():
        cells = [f"{100 * values[m]:.2f}" if m in values else "—" for m in metrics]
        lines.append(f"| {frame} | " + " | ".join(cells) + " |")
    return lines


def _recipe(config: Mapping[str, Any], training_config: Mapping[str, Any] | None) -> str | None:
    from wsl.recipe import recipe_card

    full = training_config or {"model": dict(config.get("hyper_parameters", {}))}
    try:
        return recipe_card(full)
    except (ValueError, KeyError, TypeError):  # not one of wsolevaluation's architectures or datasets
        return None


def model_card(
    config: Mapping[str, Any],
    results: Mapping[str, Any] | None,
    repo_id: str,
    training_config: Mapping[str, Any] | None = None,
    picture: str | None = None,
) -> str:
    """The ``README.md`` text of a model: front matter (:func:`card_metadata`) and a body.

    Args:
        config: the ``config.json`` of :func:`wsl.serving.save_pretrained`.
        results: the run's ``results.json`` (None: no scores in the card).
        repo_id: ``user/repo`` (title and loading example).
        training_config: the run's ``config.yaml`` (for the recipe card; default: the hyper-parameters).
        picture: a picture's file name inside the repository (e.g. a CAM sheet), shown in the card.
    """
    hp = config.get("hyper_parameters", {})
    meta = card_metadata(config, results, repo_id.rsplit("/", 1)[-1])
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", ""]
    lines += [f"# {repo_id}", ""]
    lines += [
        f"A weakly supervised object localization model of [{LIBRARY_NAME}]({PYPI_URL}): trained from "
        "image-level labels "
        "only, it gives class scores and one class activation map (CAM) per class.",
        "",
        f"- backbone: `{hp.get('backbone')}`, pooling head: `{hp.get('pool')}`, WSOL method: "
        f"`{hp.get('method', 'cam')}`",
        f"- classes ({len(config.get('class_names', []))}): " + ", ".join(config.get("class_names", [])),
        f"- input: {config.get('image_size') or 'any'} px RGB, ImageNet mean/std; box threshold: "
        f"{_fmt(config.get('threshold'))}",
        f"- data: `{(results or {}).get('data', 'unknown')}`",
        "",
    ]
    scores = scores_of(results)
    if scores:
        lines += ["## Test scores (%)", "", *_scores_table(scores), ""]
    recipe = _recipe(config, training_config)
    if recipe:
        lines += ["## Recipe", "", "```", recipe.rstrip(), "```", ""]
    if picture:
        lines += ["## Class activation maps", "", f"![class activation maps]({picture})", ""]
    lines += [
        "## Use",
        "",
        "```python",
        "from wsl.hub import from_pretrained",
        "",
        f'model = from_pretrained("hf://{repo_id}")  # pip install "wsol-lightning[hub]"',
        "scores, class_maps = model(images)  # (N, C), (N, C, h, w)",
        "```",
        "",
    ]
    return "\n".join(lines)
