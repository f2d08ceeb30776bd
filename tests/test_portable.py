"""wsl.portable: the file-lock backends, write_at and pid_alive on POSIX and (with a stand-in) Windows."""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import sys
import types

import pytest

import wsl.portable as portable
from wsl.portable import LOCK_BACKENDS, WINDOWS_LOCK_OFFSET, lock_backend, pid_alive, write_at


def _open(path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process (until the system reuses it)
    return child.pid


# ---------------------------------------------------------------------------------------------- backends


def test_this_platform_gets_flock():
    assert sys.platform != "win32"  # the suite runs on POSIX; the Windows paths have stand-in tests below
    assert lock_backend().name == "flock" and lock_backend().exclusive
    assert list(LOCK_BACKENDS) == ["flock", "msvcrt", "none"]


def test_lock_backend_refuses_an_unknown_or_unavailable_name():
    known = r"\['flock', 'msvcrt', 'none'\]"
    with pytest.raises(ValueError, match=rf"lock backend must be one of {known}; got 'x'"):
        lock_backend("x")
    with pytest.raises(ValueError, match=r"lock backend 'msvcrt' is not available on linux; available: \["):
        lock_backend("msvcrt")


def test_lock_backend_without_fcntl_falls_back_to_none(monkeypatch):
    monkeypatch.setitem(sys.modules, "fcntl", None)  # how a platform without the module looks to import
    assert lock_backend().name == "none" and not lock_backend().exclusive


def test_flock_is_exclusive_between_two_open_files_and_released(tmp_path):
    flock = lock_backend("flock")
    first, second = _open(tmp_path / "l"), _open(tmp_path / "l")
    try:
        assert flock.acquire(first)
        assert not flock.acquire(second)  # flock locks belong to the open file, not the process
        flock.release(first)
        assert flock.acquire(second)
    finally:
        os.close(first)
        os.close(second)


def test_flock_raises_errors_that_do_not_mean_busy():
    with pytest.raises(OSError) as caught:
        lock_backend("flock").acquire(10_000)  # not an open file
    assert caught.value.errno == errno.EBADF


class _FakeMsvcrt(types.ModuleType):
    """msvcrt.locking as documented: lock/unlock ``nbytes`` from the file position, EACCES when taken."""

    LK_UNLCK, LK_LOCK, LK_NBLCK = 0, 1, 2

    def __init__(self) -> None:
        super().__init__("msvcrt")
        self.held: dict[tuple[int, int], int] = {}  # (inode, byte) -> fd
        self.calls: list[tuple[int, int, int]] = []
        self.fail_with: int | None = None

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        position = os.lseek(fd, 0, os.SEEK_CUR)
        self.calls.append((position, mode, nbytes))
        if self.fail_with is not None:
            raise OSError(self.fail_with, os.strerror(self.fail_with))
        keys = [(os.fstat(fd).st_ino, position + i) for i in range(nbytes)]
        if mode == self.LK_NBLCK:
            if any(self.held.get(key, fd) != fd for key in keys):
                raise OSError(errno.EACCES, "Permission denied")
            self.held.update(dict.fromkeys(keys, fd))
        elif mode == self.LK_UNLCK:
            for key in keys:
                del self.held[key]


def test_msvcrt_locks_one_byte_far_past_the_holder_note_and_restores_the_position(tmp_path, monkeypatch):
    fake = _FakeMsvcrt()
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    backend = lock_backend("msvcrt")
    first, second = _open(tmp_path / "l"), _open(tmp_path / "l")
    try:
        os.write(first, b'{"pid": 1}')
        assert backend.acquire(first)
        assert fake.calls == [(WINDOWS_LOCK_OFFSET, fake.LK_NBLCK, 1)]
        assert os.lseek(first, 0, os.SEEK_CUR) == 10  # where it was
        assert WINDOWS_LOCK_OFFSET >= 2**30  # a holder note is ~50 bytes: readable by the next process
        assert not backend.acquire(second)
        backend.release(first)
        assert fake.calls[-1] == (WINDOWS_LOCK_OFFSET, fake.LK_UNLCK, 1)
        assert backend.acquire(second)
        fake.fail_with = errno.EBADF
        with pytest.raises(OSError, match="Bad file descriptor"):
            backend.acquire(first)
    finally:
        os.close(first)
        os.close(second)


def test_none_backend_takes_every_lock():
    backend = lock_backend("none")
    assert backend.acquire(-1) and backend.acquire(-1) and backend.release(-1) is None


# ---------------------------------------------------------------------------------------------- write_at


def test_write_at_writes_everything_at_the_offset_through_short_writes(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:3])))  # 3 bytes a call
    fd = os.open(path, os.O_RDWR)
    try:
        write_at(fd, b"abcdefg", 2)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"01abcdefg9"


# ---------------------------------------------------------------------------------------------- pid_alive


def test_pid_alive_on_posix():
    assert pid_alive(os.getpid())
    assert not pid_alive(_dead_pid())
    for pid in (0, -1, -os.getpid()):  # os.kill would test a process group (-1: every process)
        assert not pid_alive(pid)


def test_pid_alive_counts_another_users_process_as_alive(monkeypatch):
    def kill(pid, sig):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "kill", kill)
    assert pid_alive(12345)


class _FakeKernel32:
    """OpenProcess / WaitForSingleObject / CloseHandle as documented, over a table of processes."""

    def __init__(self, processes: dict[int, str]) -> None:
        self.processes = processes  # pid -> "running" | "ended" | "denied"
        self.error = 0
        self.open: set[int] = set()
        self.access: list[int] = []

    def OpenProcess(self, access: int, inherit: bool, pid: int) -> int:  # noqa: N802 - the Windows name
        self.access.append(access)
        state = self.processes.get(pid)
        if state is None or state == "denied":
            self.error = 87 if state is None else 5  # ERROR_INVALID_PARAMETER, ERROR_ACCESS_DENIED
            return 0
        handle = 1000 + pid
        self.open.add(handle)
        return handle

    def WaitForSingleObject(self, handle: int, milliseconds: int) -> int:  # noqa: N802
        assert handle in self.open and milliseconds == 0
        return 0 if self.processes[handle - 1000] == "ended" else 0x102  # WAIT_OBJECT_0, WAIT_TIMEOUT

    def CloseHandle(self, handle: int) -> int:  # noqa: N802
        self.open.remove(handle)
        return 1


def test_pid_alive_on_windows_with_a_stand_in_kernel32(monkeypatch):
    kernel32 = _FakeKernel32({10: "running", 11: "ended", 12: "denied"})
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(portable, "_kernel32", lambda: kernel32)
    monkeypatch.setattr(ctypes, "get_last_error", lambda: kernel32.error, raising=False)
    assert [pid_alive(pid) for pid in (10, 11, 12, 13, 0)] == [True, False, True, False, False]
    assert not kernel32.open  # every handle opened was closed
    # PROCESS_QUERY_LIMITED_INFORMATION (0x1000) | SYNCHRONIZE (0x100000): enough to wait on the handle
    assert set(kernel32.access) == {0x1000 | 0x100000}


def test_kernel32_is_refused_off_windows():
    with pytest.raises(OSError, match="kernel32 is a Windows library; this is linux"):
        portable._kernel32()
