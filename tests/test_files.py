import os
import subprocess
import sys
import time

import pytest

from matdyn_nb import _files
from matdyn_nb._files import STALE_AFTER_S, atomic_directory, remove_temporaries


@pytest.fixture(scope="module")
def ended_pid() -> int:
    """The pid of a process of this host that has ended (and was reaped), as a killed writer's is."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def _folder(parent, name: str, age_s: float = 0.0):
    folder = parent / name
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "part.bin").write_bytes(b"half")
    then = time.time() - age_s
    for path in (folder / "sub" / "part.bin", folder / "sub", folder):
        os.utime(path, (then, then))
    return folder


def test_only_temporaries_whose_writer_is_gone_are_removed(tmp_path, ended_pid):
    host, old = _files._HOST, STALE_AFTER_S + 60
    gone = [
        _folder(tmp_path, f".run.zarr.tmp-{host}-{ended_pid}-abcd1234"),  # killed here
        _folder(tmp_path, ".run.zarr.tmp-other-host-12-abcd1234", age_s=old),  # elsewhere, untouched for long
        _folder(tmp_path, ".run.zarr.tmpabcd_123", age_s=old),  # named by an earlier version, untouched for long
    ]
    kept = [
        _folder(tmp_path, f".run.zarr.tmp-{host}-{os.getpid()}-abcd1234", age_s=old),  # a live writer here
        _folder(tmp_path, ".run.zarr.tmp-other-host-12-abcd1234x"),  # not a name we give
        _folder(tmp_path, ".run.zarr.tmp-other.host-12-efgh5678"),  # elsewhere, recent: maybe being written
        _folder(tmp_path, ".run.zarr.tmpabcd_123x", age_s=old),  # not a name we give
        _folder(tmp_path, f".run.zarr2.tmp-{host}-{ended_pid}-abcd1234"),  # another store's
        _folder(tmp_path, ".run.zarr.old", age_s=old),  # an interrupted swap's complete copy
        _folder(tmp_path, f"run.zarr.tmp-{host}-{ended_pid}-abcd1234"),  # not hidden: the user's
    ]
    (tmp_path / f".run.zarr.tmp-{host}-{ended_pid}-file1234").write_bytes(b"a file, not our folder")
    recent = _folder(tmp_path, ".run.zarr.tmp-other-host-13-abcd1234", age_s=old)
    (recent / "sub" / "part.bin").write_bytes(b"still being written")  # one file touched: not stale
    remove_temporaries(tmp_path / "run.zarr")
    assert not any(p.exists() for p in gone)
    assert all(p.exists() for p in [*kept, recent, tmp_path / f".run.zarr.tmp-{host}-{ended_pid}-file1234"])


def test_a_write_removes_what_a_killed_write_of_the_same_folder_left(tmp_path, ended_pid):
    killed = _folder(tmp_path, f".model.tmp-{_files._HOST}-{ended_pid}-abcd1234")
    with atomic_directory(tmp_path / "model") as tmp:
        assert tmp.name.startswith(f".model.tmp-{_files._HOST}-{os.getpid()}-")
        (tmp / "model.json").write_text("{}")
    assert not killed.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
