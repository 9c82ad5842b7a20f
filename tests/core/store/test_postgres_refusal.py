"""A PostgreSQL server that answers but refuses the connection (unknown role, unknown database) says so, with the
server's reason, instead of claiming the server cannot be reached; a server that does not answer still can't be."""

from __future__ import annotations

import socket

import pytest

from core.errors import UserError
from core.store.database import Store
from core.store.errors import DatabaseRefused, DatabaseUnavailable
from tests.support.backends import PgCluster


def _address(pg: PgCluster, *, user: str = "postgres", database: str = "postgres") -> str:
    return pg.url(database).replace("postgres@", f"{user}@", 1)


@pytest.mark.parametrize(
    ("user", "database", "reason"),
    [
        ("nobody", "postgres", 'role "nobody" does not exist'),
        ("postgres", "no_such_db", 'database "no_such_db" does not exist'),
    ],
)
def test_a_refused_connection_names_the_servers_reason(pg_cluster: PgCluster, user, database, reason) -> None:
    with pytest.raises(DatabaseRefused) as caught:
        Store(_address(pg_cluster, user=user, database=database), wait_s=1)
    message = str(caught.value)
    assert reason in message
    assert "PW_DATABASE_URL" in message
    assert "cannot be reached" not in message
    assert isinstance(caught.value, UserError)


def test_a_server_that_does_not_answer_cannot_be_reached() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(DatabaseUnavailable, match="cannot be reached"):
        Store(f"postgresql://postgres:secret@127.0.0.1:{port}/pw", wait_s=1)
