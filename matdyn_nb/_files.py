"""Atomic writes: a killed process never leaves a half-written folder under the final name."""

import errno
import glob
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "atomic_directory",
    "existing_directory",
    "leftover",
    "refuse_to_replace",
    "remove_temporaries",
    "replace_directory",
    "run_entries",
    "temporary_folder",
    "writable_folder",
]

# An atomic write takes minutes at most; a temporary whose writer cannot be asked (another
# host, or one named before temporaries carried their writer) is stale once untouched this long.
STALE_AFTER_S = 24 * 3600
# this host as it may appear in a file name ("-" separates the name's fields, parsed from the right)
_HOST = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "unknown"
_EARLIER = re.compile(r"[a-z0-9_]{8}")  # what follows ".NAME.tmp": mkdtemp's random part (earlier versions)
_OURS = re.compile(r"-(?P<host>[A-Za-z0-9._-]+)-(?P<pid>[0-9]+)-[a-z0-9_]{8}")  # -HOST-PID-RANDOM


def writable_folder(folder: Path, error: type[Exception], what: str) -> Path:
    """Create ``folder`` if needed and check a file can be written there, else raise ``error``.

    Called before long work, so an unwritable place fails at once, not after the work.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise error(
            f"cannot write {what} in {str(folder)!r} ({type(err).__name__}: {err.strerror or err}); choose a "
            "folder you can write to"
        ) from err
    return folder


@contextmanager
def atomic_directory(path: Path, exclusive: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; on success it replaces ``path``.

    The old folder is renamed aside, the new one renamed into place, then the old one is
    removed; if the process dies in between, ``path`` or ``path.with_name('.NAME.old')``
    holds a complete copy (see :func:`existing_directory`). The folder and what is written
    in it get the permissions of the process's umask, as ordinary files do, so that other
    accounts (dask workers, colleagues on a shared filesystem) can read a model. The
    temporary folder is :func:`temporary_folder`'s: one that a killed process leaves behind
    is removed by a later write of ``path``.

    Parameters
    ----------
    path
        The folder to write.
    exclusive
        Never replace a folder with content: if another writer filled ``path`` first,
        raise :class:`FileExistsError` (the temporary folder is removed, ``path`` kept).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_folder(path)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it owner-only; the result is an ordinary folder
    try:
        yield tmp
        for written in tmp.rglob("*"):  # some writers (safetensors) make owner-only files
            written.chmod((0o777 if written.is_dir() else 0o666) & ~umask)
        if exclusive:
            _rename_exclusive(tmp, path)
        else:
            replace_directory(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _rename_exclusive(src: Path, dst: Path) -> None:
    """Rename the folder ``src`` to ``dst``; raise FileExistsError if ``dst`` holds anything."""
    try:
        src.rename(dst)  # atomic; replaces an empty folder only
    except OSError as err:
        if err.errno in (errno.EEXIST, errno.ENOTEMPTY) or dst.is_file():
            raise FileExistsError(errno.EEXIST, "another writer created it first", str(dst)) from err
        raise


def temporary_folder(path: Path) -> Path:
    """A fresh hidden folder beside ``path`` to write it in, named after this host and process.

    Its name, ``.NAME.tmp-HOST-PID-RANDOM``, lets a later write of ``path`` tell a temporary
    folder whose writer was killed from one still being written; such stale ones are
    removed first (:func:`remove_temporaries`), so kills leave no pile of them. The folder
    is owner-only, as :func:`tempfile.mkdtemp` makes it.
    """
    path = Path(path)
    remove_temporaries(path)
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{_HOST}-{os.getpid()}-", dir=path.parent))


def remove_temporaries(path: Path) -> None:
    """Delete the temporary folders of writes of ``path`` whose writer is gone (see :func:`temporary_folder`).

    Only names of the form :func:`temporary_folder` gives (and ``.NAME.tmpRANDOM``, as
    earlier versions named them) are considered, and one is deleted only when its writer
    is provably gone: a process of this host that no longer runs, or, for a writer on
    another host or unnamed, nothing in the folder changed for :data:`STALE_AFTER_S`. The
    temporary folder of a write under way, here or on another host, is kept.
    """
    path = Path(path)
    prefix = f".{path.name}.tmp"
    for tmp in path.parent.glob(f"{glob.escape(prefix)}*"):
        if tmp.is_dir() and not tmp.is_symlink() and _writer_gone(tmp.name[len(prefix) :], tmp):
            shutil.rmtree(tmp, ignore_errors=True)  # another process may be removing it too


def _writer_gone(suffix: str, tmp: Path) -> bool:
    """Whether the writer of ``tmp``, whose name ends in ``suffix`` after ``.NAME.tmp``, is gone."""
    ours = _OURS.fullmatch(suffix)
    if ours is None and _EARLIER.fullmatch(suffix) is None:
        return False  # not a name we give: someone else's folder
    if ours is not None and ours["host"] == _HOST and os.name == "posix":  # on Windows os.kill(pid, 0) kills
        return not _running(int(ours["pid"]))
    return _untouched_for(tmp, STALE_AFTER_S)


def _running(pid: int) -> bool:
    """Whether process ``pid`` of this host exists (an unreaped, killed child counts as running)."""
    try:
        os.kill(pid, 0)  # signal 0: sends nothing, only checks
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _untouched_for(folder: Path, seconds: float) -> bool:
    """Whether nothing in ``folder`` (the folder included) was modified in the last ``seconds``."""
    newest = 0.0
    try:
        for root, dirs, files in os.walk(folder):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                newest = max(newest, os.lstat(name).st_mtime)
    except OSError:  # changing under us: not untouched
        return False
    return time.time() - newest > seconds


def leftover(path: Path) -> Path:
    """Where :func:`replace_directory` keeps the old ``path`` while it swaps in the new one."""
    return path.with_name(f".{path.name}.old")


def replace_directory(src: Path, dst: Path) -> None:
    """Rename the folder ``src`` to ``dst``, replacing ``dst``; at every moment one of them is whole.

    The old ``dst`` is renamed aside to :func:`leftover` first and removed last; a copy left
    there by an earlier interrupted swap is kept until the new folder is in place.
    """
    old = leftover(dst)
    if dst.exists():
        if old.exists():
            shutil.rmtree(old)  # a finished swap's leftover: dst is the complete copy
        dst.rename(old)
    src.rename(dst)
    shutil.rmtree(old, ignore_errors=True)


def existing_directory(path: Path) -> Path | None:
    """``path`` if it exists, else the complete copy left by an interrupted swap, else None."""
    path = Path(path)
    if path.is_dir():
        return path
    old = leftover(path)
    return old if old.is_dir() else None


def run_entries(run_dir: Path) -> list[Path]:
    """The folders of a training run in ``run_dir`` (checkpoint, model, and copies left by an interrupted swap)."""
    names = ("checkpoint", ".checkpoint.old", "model", ".model.old")
    return [Path(run_dir) / name for name in names if (Path(run_dir) / name).is_dir()]


def refuse_to_replace(
    run_dir: Path,
    resume: bool,
    error: type[Exception],
    *,
    overwrite: str = "overwrite=True",
    other: str = "another run_dir",
) -> None:
    """Raise ``error`` if ``run_dir`` holds a run (:func:`run_entries`) that training would replace.

    For a training that did not resume (``resume=False``, or no checkpoint); ``overwrite``
    and ``other`` say how the caller replaces the run or trains elsewhere.
    """
    found = [p.name for p in run_entries(run_dir)]
    if found:
        why = (
            "resume=False was passed; pass resume=True to continue it"
            if not resume
            else "it has no checkpoint to resume"
        )
        raise error(
            f"run folder {str(run_dir)!r} already holds a run ({', '.join(found)}) and {why}; to replace it pass "
            f"{overwrite}, or choose {other} (nothing was changed)"
        )
