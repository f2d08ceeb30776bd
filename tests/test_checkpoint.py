"""wsl.checkpoint, function by function: reading, loading, resuming checks, the atomic writer, the callbacks.

The end-to-end behaviours (a killed run resumes, a full disk is one error line) are in
``tests/reliability/test_checkpoints.py``; here each public function is called directly on hand-made payloads.
"""

from __future__ import annotations

import errno
import logging
from types import SimpleNamespace

import pytest
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

from wsl.checkpoint import (
    AtomicCheckpointIO,
    CheckpointWriteError,
    LastCheckpoint,
    SaveOnSigterm,
    _is_out_of_space,
    check_readable,
    check_resumable,
    load_module,
    read_checkpoint,
)
from wsl.lit import WSLModule

NET = {"num_classes": 3, "class_names": ["a", "b", "c"], "backbone": "lcnet_050", "pool": "gap"}


class NotAllowed:
    """A class ``torch.load(weights_only=True)`` refuses to unpickle."""


@pytest.fixture(scope="module")
def module() -> WSLModule:
    return WSLModule(**NET).eval()


def payload_of(module: WSLModule, **extra) -> dict:
    """What ``Trainer.save_checkpoint`` stores that ``load_module`` reads: hyper-parameters and state dict."""
    return {"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict(), **extra}


# read_checkpoint -------------------------------------------------------------------------------------


def test_read_checkpoint_returns_what_torch_save_wrote(tmp_path):
    saved = {"step": 7, "w": torch.arange(6.0).reshape(2, 3)}
    torch.save(saved, tmp_path / "a.ckpt")
    loaded = read_checkpoint(tmp_path / "a.ckpt")
    assert loaded["step"] == 7 and torch.equal(loaded["w"], saved["w"])


def test_a_missing_file_names_the_argument_the_path_and_the_fix(tmp_path):
    with pytest.raises(
        ValueError, match=r"^weights '.*nope\.ckpt' does not exist; pass the run's best\.ckpt$"
    ):
        read_checkpoint(tmp_path / "nope.ckpt", "weights", "pass the run's best.ckpt")
    with pytest.raises(ValueError, match=r"does not exist; pass a \.ckpt file$"):
        read_checkpoint(tmp_path / "nope.ckpt")


@pytest.mark.parametrize("content", ["text", "pickle"])
def test_a_file_that_is_no_safe_checkpoint_is_one_message_naming_the_type_not_torchs_text(tmp_path, content):
    path = tmp_path / "bad.ckpt"
    if content == "text":
        path.write_text("not a checkpoint\n")
    else:
        torch.save({"object": NotAllowed()}, path)
    with pytest.raises(ValueError) as caught:
        read_checkpoint(path, "ckpt_path")
    message = str(caught.value)
    assert message.startswith(f"ckpt_path {str(path)!r} cannot be read as a PyTorch checkpoint (")
    assert "pickled objects (refused)" in message and "weights_only=False" not in message
    assert "\n" not in message


def test_max_bytes_refuses_a_checkpoint_whose_members_declare_more(tmp_path):
    path = tmp_path / "big.ckpt"
    torch.save({"w": torch.zeros(1024)}, path)  # 4096 bytes of float32 in one member, plus small ones
    with pytest.raises(ValueError, match=r"would unpack to 4\.\d kB .* above the limit of 2\.0 kB"):
        read_checkpoint(path, max_bytes=2048)
    with pytest.raises(ValueError, match=r"above the limit of 100 B; it may be corrupt or crafted"):
        read_checkpoint(path, max_bytes=100)
    assert read_checkpoint(path, max_bytes=2**20)["w"].shape == (1024,)


def test_check_readable_accepts_a_checkpoint_and_names_ckpt_path_otherwise(tmp_path):
    good = tmp_path / "good.ckpt"
    torch.save({"x": torch.ones(3)}, good)
    check_readable(good)
    truncated = tmp_path / "cut.ckpt"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(ValueError, match=r"^ckpt_path '.*cut\.ckpt' cannot be read"):
        check_readable(truncated)
    with pytest.raises(ValueError, match=r"does not exist; pass a \.ckpt file or 'last'$"):
        check_readable(tmp_path / "absent.ckpt")


# load_module ---------------------------------------------------------------------------------------


def test_load_module_rebuilds_the_same_network_in_eval_mode_with_its_precision(module, tmp_path):
    path = tmp_path / "run.ckpt"
    torch.save(payload_of(module, precision="bf16-mixed"), path)
    loaded = load_module(path)
    assert not loaded.training and loaded.training_precision == "bf16-mixed"
    assert loaded.hparams["class_names"] == ["a", "b", "c"] and loaded.hparams["pool"] == "gap"
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(loaded.net(x)[0], module.net(x)[0])


def test_load_module_ignores_lightning_cli_keys_and_says_none_for_an_unstored_precision(module, tmp_path):
    payload = payload_of(module)
    payload["hyper_parameters"]["_class_path"] = "wsl.lit.WSLModule"
    torch.save(payload, tmp_path / "old.ckpt")
    assert load_module(tmp_path / "old.ckpt").training_precision is None


def test_load_module_refuses_a_checkpoint_not_written_by_wsl(module, tmp_path):
    no_pool = payload_of(module)
    del no_pool["hyper_parameters"]["pool"]
    torch.save(no_pool, tmp_path / "foreign.ckpt")
    with pytest.raises(
        ValueError, match=r"was not written by wsl's tools/train\.py .* use the model's pretrained="
    ):
        load_module(tmp_path / "foreign.ckpt")
    torch.save(module.state_dict(), tmp_path / "weights.ckpt")  # a bare state dict: no hyper_parameters
    with pytest.raises(ValueError, match="was not written by wsl's tools/train.py"):
        load_module(tmp_path / "weights.ckpt")


def test_load_module_names_the_keys_that_do_not_match(module, tmp_path):
    payload = payload_of(module)
    dropped = next(iter(payload["state_dict"]))
    del payload["state_dict"][dropped]
    payload["state_dict"]["net.extra.weight"] = torch.zeros(1)
    torch.save(payload, tmp_path / "mismatch.ckpt")
    with pytest.raises(ValueError) as caught:
        load_module(tmp_path / "mismatch.ckpt")
    assert "does not match the network" in str(caught.value)
    assert repr(dropped) in str(caught.value) and "'net.extra.weight'" in str(caught.value)


# check_resumable -----------------------------------------------------------------------------------


def test_check_resumable_accepts_its_own_checkpoint(module, tmp_path):
    torch.save(payload_of(module), tmp_path / "same.ckpt")
    check_resumable(tmp_path / "same.ckpt", module)


@pytest.mark.parametrize(
    ("name", "value", "flag"),
    [("pool", "gmp", "model.pool"), ("class_names", ["x", "y", "z"], "dataset classes")],
)
def test_check_resumable_names_both_values_and_the_flag(module, tmp_path, name, value, flag):
    payload = payload_of(module)
    payload["hyper_parameters"][name] = value
    torch.save(payload, tmp_path / "other.ckpt")
    with pytest.raises(ValueError) as caught:
        check_resumable(tmp_path / "other.ckpt", module)
    message = str(caught.value)
    assert f"trained with {name}={value!r}" in message
    assert f"configured with {name}={module.hparams[name]!r}" in message
    assert f"resume with the checkpoint's {flag}" in message


def test_check_resumable_lets_a_size_free_backbone_resume_at_another_image_size(module, tmp_path):
    assert module.net.backbone.img_size is None  # lcnet_050 takes any size
    payload = payload_of(module)
    payload["hyper_parameters"]["img_size"] = 999
    torch.save(payload, tmp_path / "size.ckpt")
    check_resumable(tmp_path / "size.ckpt", module)


def test_check_resumable_refuses_weights_of_dropped_backbone_stages(module, tmp_path):
    (prefix,) = module.net.backbone.dropped_prefixes
    payload = payload_of(module)
    payload["state_dict"][f"net.backbone.{prefix}conv.weight"] = torch.zeros(1)
    torch.save(payload, tmp_path / "stages.ckpt")
    with pytest.raises(ValueError, match="holds weights of backbone stages after out_index"):
        check_resumable(tmp_path / "stages.ckpt", module)


def test_check_resumable_refuses_a_payload_without_hyper_parameters(module, tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "bare.ckpt")
    with pytest.raises(ValueError, match=r"has no hyper_parameters; it was not written by tools/train\.py"):
        check_resumable(tmp_path / "bare.ckpt", module)


# AtomicCheckpointIO --------------------------------------------------------------------------------


def test_the_atomic_writer_leaves_only_the_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1}, path)
    AtomicCheckpointIO().save_checkpoint({"step": 2}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    assert torch.load(path, weights_only=True) == {"step": 2}
    with pytest.raises(TypeError, match="takes no storage_options"):
        AtomicCheckpointIO().save_checkpoint({"step": 3}, path, storage_options={"a": 1})


def test_an_error_other_than_no_room_is_raised_as_it_is_and_the_old_file_stays(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1}, path)

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "denied")

    monkeypatch.setattr(torch, "save", refuse)
    with pytest.raises(PermissionError):
        AtomicCheckpointIO().save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    assert torch.load(path, weights_only=True) == {"step": 1}


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EFBIG, "File too large"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (OSError(errno.EACCES, "Permission denied"), False),
        (RuntimeError("[enforce fail at inline_container.cc] unexpected pos 64 vs 0"), True),
        (RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"), True),
        (RuntimeError("some other failure"), False),
    ],
)
def test_out_of_space_is_the_three_errnos_and_torchs_two_short_write_texts(err, expected):
    assert _is_out_of_space(err) is expected


def test_the_write_error_names_the_path_the_room_and_the_fix(tmp_path):
    error = CheckpointWriteError(tmp_path / "last.ckpt", OSError(errno.ENOSPC, "No space left"))
    message = str(error)
    assert message.startswith(f"cannot write the checkpoint {str(tmp_path / 'last.ckpt')!r}: ")
    assert " GiB free there; OSError:" in message
    assert message.endswith("ulimit -f), then resume with --ckpt_path last")
    assert isinstance(error, OSError)


# LastCheckpoint and SaveOnSigterm, with a stand-in trainer ------------------------------------------


class StandInTrainer(SimpleNamespace):
    """The trainer attributes the callbacks read; ``save_checkpoint`` writes a small file and records it."""

    def __init__(self, **fields) -> None:
        defaults = {"sanity_checking": False, "global_step": 0, "state": SimpleNamespace(fn="fit")}
        super().__init__(**{**defaults, "is_global_zero": True, "saved": [], **fields})

    def save_checkpoint(self, path, weights_only=None) -> None:
        assert weights_only is False
        path.write_bytes(b"ckpt")
        self.saved.append((str(path), self.global_step))


def test_last_checkpoint_saves_once_a_step_and_never_while_sanity_checking(tmp_path):
    callback, trainer = LastCheckpoint(tmp_path / "last.ckpt"), StandInTrainer(sanity_checking=True)
    callback.on_fit_start(trainer, None)
    callback.on_train_epoch_end(trainer, None)
    assert trainer.saved == [] and callback.saved_step is None
    trainer.sanity_checking, trainer.global_step = False, 4
    callback.on_train_epoch_end(trainer, None)
    callback.on_train_end(trainer, None)  # same step: the file already holds it
    trainer.global_step = 6
    callback.on_train_end(trainer, None)
    assert trainer.saved == [(str(tmp_path / "last.ckpt"), 4), (str(tmp_path / "last.ckpt"), 6)]
    assert callback.saved_step == 6


def test_last_checkpoint_saves_again_when_the_file_of_that_step_is_gone(tmp_path):
    callback, trainer = LastCheckpoint(tmp_path / "last.ckpt"), StandInTrainer(global_step=3)
    callback.on_train_epoch_end(trainer, None)
    (tmp_path / "last.ckpt").unlink()
    callback.on_train_end(trainer, None)
    assert [step for _, step in trainer.saved] == [3, 3]


def test_sigterm_during_fit_saves_and_says_how_to_resume(tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO, logger="wsl")
    callback, trainer = SaveOnSigterm(tmp_path / "last.ckpt"), StandInTrainer(global_step=5)
    callback.on_exception(trainer, None, SIGTERMException())
    assert trainer.saved == [(str(tmp_path / "last.ckpt"), 5)] and not callback.interrupted
    assert caplog.messages == [f"SIGTERM: saved {tmp_path / 'last.ckpt'}; resume with --ckpt_path last"]
    assert caplog.records[0].name == "wsl.checkpoint" and capsys.readouterr() == ("", "")


def test_only_global_rank_zero_says_it_saved(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="wsl")
    callback, trainer = SaveOnSigterm(tmp_path / "last.ckpt"), StandInTrainer(is_global_zero=False)
    callback.on_exception(trainer, None, SIGTERMException())
    assert trainer.saved == [(str(tmp_path / "last.ckpt"), 0)] and caplog.messages == []


def test_other_exceptions_and_other_stages_save_nothing(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="wsl")
    callback = SaveOnSigterm(tmp_path / "last.ckpt")
    fitting = StandInTrainer()
    callback.on_exception(fitting, None, RuntimeError("boom"))
    callback.on_exception(fitting, None, KeyboardInterrupt())  # a Ctrl-C that did not go through the handler
    testing = StandInTrainer(state=SimpleNamespace(fn="test"))
    callback.on_exception(testing, None, SIGTERMException())
    assert fitting.saved == testing.saved == [] and caplog.messages == []


def test_the_first_ctrl_c_waits_for_the_batch_end_and_the_second_stops_at_once(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="wsl")
    callback, trainer = SaveOnSigterm(tmp_path / "last.ckpt"), StandInTrainer(global_step=2)
    callback.on_train_batch_end(trainer)  # nothing pending: training goes on
    callback._on_sigint(2, None)
    with pytest.raises(KeyboardInterrupt) as caught:
        callback.on_train_batch_end(trainer)
    callback.on_exception(trainer, None, caught.value)
    assert callback.interrupted and trainer.saved == [(str(tmp_path / "last.ckpt"), 2)]
    assert caplog.messages == [f"SIGINT: saved {tmp_path / 'last.ckpt'}; resume with --ckpt_path last"]
    with pytest.raises(KeyboardInterrupt):
        callback._on_sigint(2, None)
