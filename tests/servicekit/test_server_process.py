"""A test server's output: its logged errors are shown with the test, its failure to start says why."""

import pytest

from servicekit.testing import ServerProcess


def test_the_errors_a_server_logged_are_shown_when_it_stops(capfd: pytest.CaptureFixture[str]) -> None:
    server = ServerProcess("tests.servicekit.erring_app:create_app", {}, name="erring").start()
    server.stop()
    shown = capfd.readouterr().err
    assert "erring logged 1 errors" in shown
    assert "the database said something unexpected" in shown


def test_a_server_that_cannot_start_says_why() -> None:
    with pytest.raises(RuntimeError, match="this app cannot be built"):
        ServerProcess("tests.servicekit.erring_app:create_broken_app", {}, name="broken").start()
