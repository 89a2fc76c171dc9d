"""Persistent database connections, checked without a round trip.

Django's CONN_HEALTH_CHECKS sends `SELECT 1` before the first query of every request: a
round trip per request to learn something the socket already tells. When PostgreSQL ends an
idle session (a restart, a failover, `pg_terminate_backend`, an idle timeout) it sends a FATAL
error and closes the socket, so an idle connection with anything to read is finished. At the
start of each request such connections are closed, and Django opens a fresh one on first use.
"""

from __future__ import annotations

import select

from django.db import connections


def server_hung_up(raw_connection) -> bool:
    """True when an idle psycopg connection is closed, or the server spoke or hung up on it."""
    if raw_connection.closed:
        return True
    poll = select.poll()
    poll.register(raw_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poll.poll(0))


def drop_connections_the_server_closed(**kwargs: object) -> None:
    """`request_started` receiver: close this thread's PostgreSQL connections that are done."""
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if (
            raw is not None
            and connection.vendor == "postgresql"
            and not connection.in_atomic_block
            and server_hung_up(raw)
        ):
            connection.close()
