"""Atomic writes: a killed process never leaves a half-written folder under the final name."""

import errno
import os
import shutil
import tempfile
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
    "writable_folder",
]


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
    accounts (dask workers, colleagues on a shared filesystem) can read a model.

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
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp", dir=path.parent))
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


def remove_temporaries(path: Path) -> None:
    """Delete the temporary folders that writes of ``path`` killed in :func:`atomic_directory` left beside it.

    Only for a caller that alone writes ``path`` (a training run in its run folder): another
    writer's temporary folder would go too.
    """
    for tmp in Path(path).parent.glob(f".{Path(path).name}.tmp*"):
        shutil.rmtree(tmp, ignore_errors=True)


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
