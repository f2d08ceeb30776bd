"""What differs between Linux, macOS and Windows: an exclusive file lock and "is this process alive".

Nothing here imports a platform-only module at import time: ``fcntl`` (POSIX) and ``msvcrt`` (Windows)
are imported when a lock is taken, and the Windows process check goes through :mod:`ctypes`. So every
``wsl`` module imports on every platform that torch runs on.

**Locks** (:data:`LOCK_BACKENDS`, chosen by :func:`lock_backend`, first available in this order):

- ``flock``: ``fcntl.flock(fd, LOCK_EX | LOCK_NB)`` (Linux, macOS). The kernel releases it when the
  holder dies, SIGKILL included.
- ``msvcrt``: ``msvcrt.locking(fd, LK_NBLCK, 1)`` on the byte at :data:`WINDOWS_LOCK_OFFSET` (Windows).
  Windows releases it when the holder dies. Windows locks are mandatory (a locked byte cannot be read by
  another process), so the locked byte lies far past the few bytes the holder writes at the start of the
  file, which a second process must be able to read to name the holder in its error message.
- ``none``: no OS lock (a platform with neither module). :func:`wsl.runs.lock_run_dir` then refuses a
  folder whose lock file names a live process; two processes that start within the same instant can
  both pass, which the other two backends rule out.

**Processes**: :func:`pid_alive` uses ``os.kill(pid, 0)`` on POSIX and ``OpenProcess`` +
``WaitForSingleObject`` on Windows, where ``os.kill(pid, 0)`` would not test anything: signal 0 is
``CTRL_C_EVENT`` there, and it would interrupt the process group ``pid``.
"""

from __future__ import annotations

import ctypes
import errno
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = [
    "LOCK_BACKENDS",
    "WINDOWS_LOCK_OFFSET",
    "LockBackend",
    "lock_backend",
    "pid_alive",
    "write_at",
]

#: The byte that the ``msvcrt`` backend locks: far past the holder's note at the start of the file
#: (Windows can lock bytes beyond the end of a file), below 2 GiB for 32-bit file offsets.
WINDOWS_LOCK_OFFSET = 0x7FFF_0000

# Windows API constants (winnt.h, winerror.h, synchapi.h).
_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
_SYNCHRONIZE = 0x0010_0000
_ERROR_ACCESS_DENIED = 5
_WAIT_OBJECT_0 = 0x0000_0000
_WAIT_TIMEOUT = 0x0000_0102


def _module(name: str) -> ModuleType | None:
    """The platform module ``name``, or None where it does not exist (or is blocked in ``sys.modules``)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


#: errno values meaning "someone else holds the lock" (flock: EWOULDBLOCK/EAGAIN, some systems EACCES;
#: msvcrt.locking: EACCES, or EDEADLOCK from the C runtime's retries).
_BUSY_ERRNOS = frozenset(
    {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, getattr(errno, "EDEADLOCK", errno.EDEADLK)}
)


def _flock_acquire(fd: int) -> bool:
    fcntl: Any = _module("fcntl")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno not in _BUSY_ERRNOS:
            raise
        return False
    return True


def _flock_release(fd: int) -> None:
    fcntl: Any = _module("fcntl")
    fcntl.flock(fd, fcntl.LOCK_UN)


def _msvcrt_lock(fd: int, mode_name: str) -> None:
    msvcrt: Any = _module("msvcrt")
    position = os.lseek(fd, 0, os.SEEK_CUR)
    os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
    try:
        msvcrt.locking(fd, getattr(msvcrt, mode_name), 1)
    finally:
        os.lseek(fd, position, os.SEEK_SET)


def _msvcrt_acquire(fd: int) -> bool:
    try:
        _msvcrt_lock(fd, "LK_NBLCK")
    except OSError as err:
        if err.errno not in _BUSY_ERRNOS:
            raise
        return False
    return True


def _msvcrt_release(fd: int) -> None:
    _msvcrt_lock(fd, "LK_UNLCK")


def _no_lock_acquire(fd: int) -> bool:
    return True


def _no_lock_release(fd: int) -> None:
    return None


@dataclass(frozen=True)
class LockBackend:
    """One way to hold an exclusive, non-blocking lock on an open file.

    Attributes:
        name: the key in :data:`LOCK_BACKENDS`.
        available: whether this platform has it.
        acquire: ``acquire(fd)`` → True when the lock was taken, False when another process holds it
            (never blocks); other OS errors are raised.
        release: ``release(fd)`` gives it back (closing ``fd`` does too).
        exclusive: whether the OS refuses a second holder; False for ``none``, where the caller must
            check the holder itself.
    """

    name: str
    available: Callable[[], bool]
    acquire: Callable[[int], bool]
    release: Callable[[int], None]
    exclusive: bool = True


#: The lock backends, in the order :func:`lock_backend` tries them.
LOCK_BACKENDS: dict[str, LockBackend] = {
    backend.name: backend
    for backend in (
        LockBackend("flock", lambda: _module("fcntl") is not None, _flock_acquire, _flock_release),
        LockBackend("msvcrt", lambda: _module("msvcrt") is not None, _msvcrt_acquire, _msvcrt_release),
        LockBackend("none", lambda: True, _no_lock_acquire, _no_lock_release, exclusive=False),
    )
}


def lock_backend(name: str | None = None) -> LockBackend:
    """The lock backend ``name``, or the first available one (``flock``, ``msvcrt``, ``none``).

    Example:
        >>> lock_backend().name in ("flock", "msvcrt")
        True

    Raises:
        ValueError: ``name`` is not a backend, or this platform does not have it.
    """
    if name is None:
        return next(backend for backend in LOCK_BACKENDS.values() if backend.available())
    backend = LOCK_BACKENDS.get(name)
    if backend is None:
        raise ValueError(f"lock backend must be one of {sorted(LOCK_BACKENDS)}; got {name!r}")
    if not backend.available():
        found = [b.name for b in LOCK_BACKENDS.values() if b.available()]
        raise ValueError(f"lock backend {name!r} is not available on {sys.platform}; available: {found}")
    return backend


def write_at(fd: int, data: bytes, offset: int = 0) -> None:
    """Write all of ``data`` at ``offset`` of the open file ``fd`` (``os.pwrite`` is POSIX-only).

    Moves the file position to the end of the written bytes.
    """
    os.lseek(fd, offset, os.SEEK_SET)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _kernel32() -> Any:
    """kernel32 with the argument and return types of the three functions :func:`pid_alive` calls."""
    if sys.platform != "win32":
        raise OSError(f"kernel32 is a Windows library; this is {sys.platform}")
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.WaitForSingleObject.argtypes = (wintypes.HANDLE, wintypes.DWORD)
    kernel32.WaitForSingleObject.restype = wintypes.DWORD
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    kernel32.CloseHandle.restype = wintypes.BOOL
    return kernel32


def _windows_pid_alive(pid: int, kernel32: Any, last_error: Callable[[], int]) -> bool:
    handle = kernel32.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION | _SYNCHRONIZE, False, pid)
    if not handle:
        # ACCESS_DENIED: the process exists but belongs to someone else; otherwise (INVALID_PARAMETER)
        # there is no such process.
        return last_error() == _ERROR_ACCESS_DENIED
    try:
        # A process handle is signalled when the process has ended (a dead process whose handle someone
        # still holds can be opened). WAIT_FAILED counts as alive: the safe answer for a lock's holder.
        return kernel32.WaitForSingleObject(handle, 0) != _WAIT_OBJECT_0
    finally:
        kernel32.CloseHandle(handle)


def pid_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` is running (someone else's included); False for ``pid <= 0``.

    POSIX: ``os.kill(pid, 0)`` (``PermissionError`` means another user's live process). Windows:
    ``OpenProcess`` then ``WaitForSingleObject(handle, 0)``.

    Example:
        >>> pid_alive(os.getpid()), pid_alive(0)
        (True, False)
    """
    if pid <= 0:  # os.kill(0 or -N, 0) would test a process group, -1 every process
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid, _kernel32(), ctypes.get_last_error)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True
