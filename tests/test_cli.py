import socket

import pytest

from minescan.cli import SUBCOMMANDS


def test_help_lists_every_stage(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    for name in SUBCOMMANDS:
        assert name in out
    assert "Find surface mines" in out


def test_unknown_subcommand_fails(run_cli):
    code, _, err = run_cli("nosuchthing")
    assert code != 0
    assert "nosuchthing" in err


def test_version(run_cli):
    from minescan import __version__

    code, out, _ = run_cli("--version")
    assert code == 0
    assert __version__ in out


def test_network_is_blocked_but_loopback_is_not():
    with pytest.raises(Exception, match="(?i)socket|blocked|network"):
        socket.create_connection(("203.0.113.1", 80), timeout=1)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=1)
    client.close()
    server.close()
