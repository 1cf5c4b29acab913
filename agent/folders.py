"""Folders that several processes may reach at once: one writer per run folder, finished folders published
whole, and write failures of the environment reported in one line.

- ``RunFolderLock``: an OS lock (``fcntl.flock``) on ``<folder>/.groundex.lock`` for the whole life of a run
  (``groundex eval``, ``groundex finetune train``). A second run on the folder is refused at once, naming the
  process that holds it; a killed run's lock goes with its process (``kill -9`` leaves nothing to clean: the file
  stays, the lock does not).
- ``publish_folder``: a folder built under a temporary name replaces ``target`` by renames only (target aside to
  ``.old``, staging in, ``.old`` deleted), under a cross-process file lock, so a reader never sees a half-written
  folder and a kill between the renames leaves a folder that ``recover_folder`` puts back.
- ``WriteFailure``: ENOSPC, EDQUOT, EROFS, EIO or a permission error while writing: a failure of the environment,
  not of the input (exit code 1, where user mistakes exit 2).
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
from pathlib import Path
from typing import Callable

from groundex.agent.errors import GroundexError

LOCK_FILE = ".groundex.lock"
STAGING_SUFFIX, ASIDE_SUFFIX = ".tmp", ".old"
WRITE_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                errno.EROFS: "read-only file system", errno.EIO: "input/output error",
                errno.EACCES: "permission denied", errno.EPERM: "operation not permitted"}


class RunFolderBusy(GroundexError):
    """Another process holds the run folder."""


class WriteFailure(GroundexError):
    """Writing a file failed for a reason of the environment (full disk, read-only, I/O error, permissions)."""

    exit_code = 1


def is_write_failure(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in WRITE_ERRNOS


def write_failure(error: OSError, path: Path | str | None = None, then: str = "") -> WriteFailure:
    """One line: the file, the cause in words, and ``then`` (what is kept, how to go on)."""
    where = path or error.filename or "a file"
    cause = WRITE_ERRNOS.get(error.errno or 0, error.strerror or str(error))
    return WriteFailure(f"cannot write {where}: {cause}" + (f"; {then}" if then else ""))


class RunFolderLock:
    """Hold ``folder`` for this process (``with RunFolderLock(folder, "groundex eval"):`` or ``acquire``/``release``).
    Raises ``RunFolderBusy`` at once when another process holds it."""

    def __init__(self, folder: Path, holder: str):
        self.folder, self.holder = folder, holder
        self._handle = None

    def acquire(self) -> "RunFolderLock":
        import fcntl

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = (self.folder / LOCK_FILE).open("a+", encoding="utf-8")
        except OSError as error:
            if is_write_failure(error):
                raise write_failure(error, self.folder / LOCK_FILE) from error
            raise GroundexError(f"run folder {self.folder} cannot be made ({error.strerror or error})") from error
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise RunFolderBusy(f"{self.folder} is in use by {owner}: wait for it to finish (or stop it), or give "
                                "another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{self.holder} (pid {os.getpid()})\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the lock
            self._handle = None

    def __enter__(self) -> "RunFolderLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def recover_folder(target: Path, keep_staging: bool = False) -> None:
    """Undo what a publish cut short: a missing ``target`` whose ``.old`` copy exists gets it back; a leftover
    ``.old`` beside a present target is deleted, and so is the ``.tmp`` staging folder (unless ``keep_staging``)."""
    aside, staging = _sibling(target, ASIDE_SUFFIX), _sibling(target, STAGING_SUFFIX)
    if aside.exists():
        if target.exists():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.rename(target)
    if staging.exists() and not keep_staging:
        shutil.rmtree(staging, ignore_errors=True)


def staging_folder(target: Path) -> Path:
    """A fresh ``<target>.tmp`` to build the next version of ``target`` in."""
    staging = _sibling(target, STAGING_SUFFIX)
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def publish_folder(staging: Path, target: Path) -> None:
    """Replace ``target`` with the finished folder ``staging`` by renames, under a cross-process lock."""
    from filelock import FileLock

    with FileLock(str(_sibling(target, ".publish.lock"))):
        recover_folder(target, keep_staging=True)
        aside = _sibling(target, ASIDE_SUFFIX)
        if target.exists():
            target.rename(aside)
        staging.rename(target)
        if aside.exists():
            shutil.rmtree(aside)


def _sibling(target: Path, suffix: str) -> Path:
    return target.with_name(target.name + suffix)


_build_lock = threading.Lock()


def build_folder_once(target: Path, build: Callable[[Path], None]) -> Path:
    """``target``, built by ``build(staging)`` and published on first use, once across threads and processes: a
    second process waits for the first and finds the folder (a converted or merged model, keyed by its content)."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock, FileLock(str(_sibling(target, ".build.lock"))):
        recover_folder(target)
        if target.is_dir() and any(target.iterdir()):
            return target
        staging = staging_folder(target)
        try:
            build(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        publish_folder(staging, target)
    return target
