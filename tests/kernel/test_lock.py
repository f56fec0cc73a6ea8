"""The output lock: one writer per folder, released with its process however that ends."""

from __future__ import annotations

import json
import os
import signal

import pytest

from minescan.kernel.errors import MinescanError
from minescan.kernel.lock import LOCK_NAME, lock_file_of, output_lock, writes_output
from tests.lock_holder import holding

REFUSED = "another minescan run (pid {pid}, 'minescan scan --out {out}') is writing to {out}"


def refusal_of(out, file: bool = False) -> str:
    """The message a run taking the lock of ``out`` now gets (the test fails if it gets the lock)."""
    with pytest.raises(MinescanError) as refused, output_lock(out, file=file):
        pass
    return str(refused.value)


def test_a_second_holder_is_refused_with_the_first_ones_pid_and_command(tmp_path):
    out = tmp_path / "run"
    with holding(out, "scan", "--out", str(out)) as holder:
        message = refusal_of(out)
    assert message.startswith(REFUSED.format(pid=holder.pid, out=out))
    assert message.endswith("; wait for it or choose another --out")
    assert "\n" not in message


def test_a_second_holder_in_the_same_process_is_refused_too(tmp_path):
    with output_lock(tmp_path):
        assert f"pid {os.getpid()}" in refusal_of(tmp_path)


def test_the_lock_is_released_and_its_file_removed_when_the_holder_ends(tmp_path):
    out = tmp_path / "run"
    with holding(out, "scan", "--out", str(out)):
        assert json.loads((out / LOCK_NAME).read_text())["command"].startswith("minescan scan")
    with output_lock(out):
        (out / "result.txt").write_text("done")
    assert sorted(p.name for p in out.iterdir()) == ["result.txt"]


def test_the_lock_is_released_after_an_error_and_an_empty_new_folder_goes(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError), output_lock(out):
        raise ValueError("bad input")
    assert not out.exists()
    with output_lock(out):
        pass


def test_sigkill_of_the_holder_releases_the_lock_and_its_file_does_not_block_resume(tmp_path):
    out = tmp_path / "run"
    with holding(out, "scan", "--out", str(out)) as holder:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        stale = out / LOCK_NAME
        assert stale.exists()  # the killed run had no chance to remove it
        assert json.loads(stale.read_text())["pid"] == holder.pid
        with output_lock(out):  # the resumed run takes it over at once
            assert json.loads(stale.read_text())["pid"] == os.getpid()
    assert not stale.exists()


def test_a_file_output_is_locked_beside_the_file_not_in_its_folder(tmp_path):
    table = tmp_path / "pixels.parquet"
    assert lock_file_of(table, file=True) == tmp_path / ".pixels.parquet.minescan.lock"
    with holding(table, "datasets", "pixels", file=True):
        assert f"is writing to {table};" in refusal_of(table, file=True)
        with output_lock(tmp_path / "other.parquet", file=True), output_lock(tmp_path):
            pass  # another file, and the folder itself, are other outputs


def test_writes_output_locks_the_named_argument_however_it_is_passed(tmp_path):
    @writes_output("out")
    def stage(settings, out, note="x"):
        return (tmp_path / "run" / LOCK_NAME).exists()

    assert stage(None, tmp_path / "run")
    assert stage(None, out=tmp_path / "run")
    assert stage.__name__ == "stage"
    with output_lock(tmp_path / "run"), pytest.raises(MinescanError, match="is writing to"):
        stage(None, tmp_path / "run")
