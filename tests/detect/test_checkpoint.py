import pytest

from minescan.detect.checkpoint import Checkpoint
from minescan.kernel.errors import MinescanError


def test_roundtrip_and_count(tmp_path):
    ck = Checkpoint(tmp_path / "_checkpoint", "abc")
    assert ck.open() == 0
    ck.write(13, 2, {"tiles": [[1, 2, 13]]})
    ck.write(13, 0, {"tiles": []})
    assert sorted(ck.load(13)) == [0, 2]
    assert ck.load(13)[2]["tiles"] == [[1, 2, 13]]
    assert ck.load(14) == {}
    assert Checkpoint(tmp_path / "_checkpoint", "abc").open() == 2


def test_another_runs_checkpoint_is_refused(tmp_path):
    Checkpoint(tmp_path, "abc").open()
    with pytest.raises(MinescanError, match="another run"):
        Checkpoint(tmp_path, "xyz").open()


def test_truncated_batch_file_is_a_clear_error(tmp_path):
    ck = Checkpoint(tmp_path, "abc")
    ck.open()
    ck.write(15, 0, {"tiles": [[1, 2, 15]]})
    path = ck.batch_path(15, 0)
    path.write_text(path.read_text()[:10])
    with pytest.raises(MinescanError, match=r"b0000000.json is corrupt.*delete it"):
        ck.load(15)


def test_corrupt_header_is_a_clear_error(tmp_path):
    (tmp_path / "header.json").write_text("{not json")
    with pytest.raises(MinescanError, match="header.json is corrupt"):
        Checkpoint(tmp_path, "abc").open()


def test_leftover_temporary_files_of_a_killed_write_are_removed(tmp_path):
    ck = Checkpoint(tmp_path, "abc")
    ck.open()
    ck.write(13, 0, {})
    stale = tmp_path / "z13" / ".b0000001.x1y2.tmp.json"
    stale.write_text('{"half')
    assert ck.open() == 1
    assert not stale.exists()
    assert sorted(ck.load(13)) == [0]
