"""Share a trained model on the Hugging Face Hub: :func:`push_to_hub` and :func:`from_pretrained`.

Both sit on :func:`wsl.serving.save_pretrained` / :func:`wsl.serving.from_pretrained`: a Hub repository
holds exactly such a folder (``config.json``, ``model.safetensors``), plus the run's ``results.json``, a
model card (``README.md``, :mod:`wsl.model_card`) and an optional CAM picture.

Names: ``hf://user/repo``, ``hf-hub:user/repo`` (timm's spelling) or a bare ``user/repo``; ``@revision``
may follow (``hf://user/repo@v1``). A local folder is loaded as it is.

Offline: :func:`from_pretrained` reads Hugging Face's cache (``~/.cache/huggingface/hub``, or ``cache_dir``,
or ``HF_HUB_CACHE``); with ``local_files_only=True`` or ``HF_HUB_OFFLINE=1`` it never touches the network.

``huggingface_hub`` is an optional dependency: ``pip install "wsol-lightning[hub]"``. It is imported only
when a function here needs it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["HUB_FILES", "from_pretrained", "hub_name", "prepare_folder", "push_to_hub"]

#: The files of a wsl repository that :func:`from_pretrained` downloads.
HUB_FILES = ["config.json", "model.safetensors", "results.json", "README.md"]
PREFIXES = ("hf://", "hf-hub:")


def _hf() -> Any:
    """``huggingface_hub``, or an ImportError that names the extra."""
    try:
        import huggingface_hub
    except ImportError:
        raise ImportError(
            'wsl.hub needs the optional dependency huggingface_hub: pip install "wsol-lightning[hub]"'
        ) from None
    return huggingface_hub


def hub_name(name: str) -> tuple[str, str | None] | None:
    """``(repo_id, revision)`` of a Hub name, or None when ``name`` is a local path.

    A bare ``user/repo`` is a Hub name unless such a local path exists.

    Example:
        >>> hub_name("hf://user/cub-resnet50@v1"), hub_name("hf-hub:user/repo"), hub_name("user/repo")
        (('user/cub-resnet50', 'v1'), ('user/repo', None), ('user/repo', None))
        >>> hub_name("runs/x/pretrained") is None, hub_name("./model") is None
        (True, True)
    """
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return _split(name[len(prefix) :], name)
    parts = name.split("/")
    looks_like_repo = len(parts) == 2 and all(parts) and not name.startswith((".", "~"))
    if looks_like_repo and not Path(name).exists():
        return _split(name, name)
    return None


def _split(rest: str, name: str) -> tuple[str, str | None]:
    repo_id, _, revision = rest.partition("@")
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"name: got {name!r}; expected hf://user/repo (optionally @revision)")
    return repo_id, revision or None


def prepare_folder(
    source: nn.Module | str | os.PathLike[str],
    folder: str | os.PathLike[str],
    repo_id: str,
    results: dict | str | os.PathLike[str] | None = None,
    picture: str | os.PathLike[str] | None = None,
) -> Path:
    """Write what :func:`push_to_hub` uploads into ``folder``: the model, ``results.json``, ``README.md``.

    Args:
        source: a ``WSLModule``, a ``.ckpt`` of ``tools/train.py`` (its run's ``results.json`` and
            ``config.yaml`` are used) or a :func:`~wsl.serving.save_pretrained` folder.
        folder: the folder to fill (created).
        repo_id: ``user/repo`` (for the card).
        results: a ``results.json`` dict or file (default: the checkpoint's run's, if any).
        picture: an image (PNG/JPEG) shown in the card, copied as ``cams<suffix>``.
    """
    from wsl.model_card import model_card
    from wsl.runs import RunFolder, write_json, write_text
    from wsl.serving import CONFIG_NAME, save_pretrained

    root = Path(folder)
    training_config = None
    if isinstance(source, nn.Module) or Path(source).is_file():
        if not isinstance(source, nn.Module):
            run = RunFolder.of_checkpoint(source)
            results = run.results() if results is None else results
            training_config = run.config()
        save_pretrained(source, root)
    elif (Path(source) / CONFIG_NAME).is_file():
        shutil.copytree(source, root, dirs_exist_ok=True)
    else:
        raise ValueError(f"source: {str(source)!r} is neither a checkpoint file nor a save_pretrained folder")
    scores: dict | None = None
    if results is not None:
        scores = (
            results if isinstance(results, dict) else json.loads(Path(results).read_text(encoding="utf-8"))
        )
        write_json(root / "results.json", scores, nan_as_null=True)
    name = None
    if picture is not None:
        name = "cams" + Path(picture).suffix.lower()
        shutil.copyfile(picture, root / name)
    config = json.loads((root / CONFIG_NAME).read_text(encoding="utf-8"))
    write_text(root / "README.md", model_card(config, scores, repo_id, training_config, name))
    return root


def push_to_hub(
    source: nn.Module | str | os.PathLike[str],
    repo_id: str,
    *,
    results: dict | str | os.PathLike[str] | None = None,
    picture: str | os.PathLike[str] | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload wsl model",
) -> str:
    """Upload a model with its card to the Hub repository ``repo_id`` (created if needed).

    The files are those of :func:`prepare_folder`; ``huggingface_hub.HfApi`` does the upload (its token:
    ``token``, else ``HF_TOKEN`` or the saved login).

    Returns:
        The commit's URL.
    """
    hf = _hf()
    repo_id, _ = _split(repo_id.removeprefix("hf://").removeprefix("hf-hub:"), repo_id)
    api = hf.HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="wsl-hub-") as tmp:
        folder = prepare_folder(source, Path(tmp) / "model", repo_id, results, picture)
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), commit_message=commit_message, repo_type="model"
        )
    return str(getattr(info, "commit_url", info))


def from_pretrained(
    name: str | os.PathLike[str],
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    map_location: str = "cpu",
) -> nn.Module:
    """A ``WSLModule`` in eval mode from a Hub name (``hf://user/repo``) or a local folder.

    The repository's files (:data:`HUB_FILES`) are fetched into Hugging Face's cache once; later loads
    (and every load with ``local_files_only=True`` or ``HF_HUB_OFFLINE=1``) read the cache only.
    ``module.pretrained_config`` is the ``config.json``; ``module.hub_folder`` the local folder read.

    Raises:
        ValueError: not in the cache while offline, no such repository, or not a wsl model.
        ImportError: ``huggingface_hub`` is not installed (for a Hub name).
    """
    from wsl.serving import from_pretrained as from_folder

    parsed = hub_name(str(name))
    if parsed is None:
        module = from_folder(name, map_location=map_location)
        module.hub_folder = Path(name)  # type: ignore[assignment]
        return module
    repo_id, at = parsed
    hf = _hf()
    # Said here rather than left to the HTTP layer, so that no Hub API call is even attempted offline.
    local_files_only = local_files_only or bool(hf.constants.HF_HUB_OFFLINE)
    try:
        folder = hf.snapshot_download(
            repo_id,
            revision=revision or at,
            cache_dir=None if cache_dir is None else str(cache_dir),
            local_files_only=local_files_only,
            allow_patterns=HUB_FILES,
        )
    except hf.errors.LocalEntryNotFoundError:
        raise ValueError(
            f"{name}: not in the Hugging Face cache ({cache_dir or hf.constants.HF_HUB_CACHE}) and offline "
            "(local_files_only or HF_HUB_OFFLINE); load it once online or pass a local folder"
        ) from None
    except (hf.errors.RepositoryNotFoundError, hf.errors.RevisionNotFoundError) as err:
        raise ValueError(f"{name}: {type(err).__name__}; check the repository name and revision") from None
    module = from_folder(folder, map_location=map_location)
    module.hub_folder = Path(folder)  # type: ignore[assignment]
    return module
