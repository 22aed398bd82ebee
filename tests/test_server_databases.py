"""``tests/backends.py`` skips a server only when nothing answers there; every other error fails.

A wrong user, an unknown database, a missing driver or bad SQL is a broken setup, not a missing
server: skipping it would turn a broken CI into a green one. (The kit's own behaviour on the
servers is tested in ``test_backends.py``.)
"""

from __future__ import annotations

import socket
import ssl

import backends
import pytest
from backends import REQUIRE_ENV, SERVERS, ServerDatabases, is_unreachable
from sqlalchemy.exc import OperationalError

SERVER_PARAMS = [pytest.param(name, marks=pytest.mark.servers) for name in SERVERS]


def _driver_error(cause: BaseException) -> OperationalError:
    """An error as SQLAlchemy raises it for asyncmy: the driver's, caused by ``cause``."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise OperationalError("connect", None, Exception(2003, "Can't connect")) from exc
    except OperationalError as error:
        return error


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        pytest.param(ConnectionRefusedError(111, "Connect call failed"), True, id="refused"),
        pytest.param(TimeoutError(), True, id="timeout"),
        pytest.param(socket.gaierror(-2, "Name or service not known"), True, id="unknown-host"),
        pytest.param(
            _driver_error(ConnectionRefusedError(111, "Connect call failed")),
            True,
            id="driver-error-caused-by-refused",
        ),
        pytest.param(_driver_error(TimeoutError()), True, id="driver-error-caused-by-timeout"),
        pytest.param(
            OperationalError("connect", None, Exception(1045, "Access denied")),
            False,
            id="access-denied",
        ),
        pytest.param(ModuleNotFoundError("No module named 'asyncpg'"), False, id="no-driver"),
        pytest.param(ValueError("bad SQL"), False, id="other"),
        pytest.param(ssl.SSLError(1, "certificate verify failed"), False, id="tls"),
        pytest.param(
            _driver_error(ssl.SSLError(1, "certificate verify failed")),
            False,
            id="driver-error-caused-by-tls",
        ),
    ],
)
def test_only_connection_failures_count_as_unreachable(
    error: BaseException, unreachable: bool
) -> None:
    assert is_unreachable(error) is unreachable


def _must_fail(name: str) -> str:
    """The failure message of ``ServerDatabases().url(name)``; a skip is a failure here."""
    databases = ServerDatabases()
    try:
        databases.url(name)
    except pytest.fail.Exception as exc:
        return str(exc)
    except pytest.skip.Exception as exc:
        pytest.fail(f"skipped, but this error is not a connection failure: {exc}", pytrace=False)
    finally:
        databases.close()
    pytest.fail("no error at all", pytrace=False)


@pytest.fixture(params=SERVER_PARAMS)
def reachable(request: pytest.FixtureRequest, server_databases: ServerDatabases) -> str:
    """The name of each server that answers (skipped, or failed if required, when it does not)."""
    server_databases.url(request.param)
    return request.param


@pytest.mark.parametrize("name", list(SERVERS))
def test_a_port_where_nothing_listens_skips(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    server = SERVERS[name]
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = server.admin_url.set(host="127.0.0.1", port=port)
    monkeypatch.setenv(server.env, url.render_as_string(hide_password=False))
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=backends.UNREACHABLE):
        ServerDatabases().url(name)


@pytest.mark.parametrize("part", ["username", "database"])
def test_an_unknown_user_or_database_fails_with_the_servers_error(
    monkeypatch: pytest.MonkeyPatch, reachable: str, part: str
) -> None:
    # The real server, asked for a user or database it does not have (trust authentication
    # accepts any password, but not a user that does not exist).
    name = reachable
    server = SERVERS[name]
    wrong = "ormkit_no_such_user" if part == "username" else "ormkit_no_such_database"
    monkeypatch.setenv(
        server.env, server.admin_url.set(**{part: wrong}).render_as_string(hide_password=False)
    )
    monkeypatch.delenv(REQUIRE_ENV, raising=False)  # a failure whether required or not
    message = _must_fail(name)
    assert "not a connection failure, so not skipped" in message
    assert wrong in message  # the server's own words: role / user / database ... unknown


def test_bad_sql_fails_with_the_servers_error(
    monkeypatch: pytest.MonkeyPatch, reachable: str
) -> None:
    name = reachable
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    monkeypatch.setattr(backends.secrets, "token_hex", lambda n: "not-an-identifier")
    message = _must_fail(name)  # CREATE DATABASE ormkit_test_not-an-identifier: a syntax error
    assert "not a connection failure, so not skipped" in message
    assert "ormkit_test_not-an-identifier" in message


@pytest.mark.parametrize("name", list(SERVERS))
def test_a_missing_driver_fails(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    server = SERVERS[name]
    backend = server.admin_url.get_backend_name()
    monkeypatch.setenv(server.env, f"{backend}+nosuchdriver://kit@127.0.0.1:9/test")
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    message = _must_fail(name)
    assert "NoSuchModuleError" in message
    assert "nosuchdriver" in message
