"""Recording in the registry what a publish or removal already put in the public store.

Once a metadata change is public, the change has happened: clients see it, and
whether a path may be overwritten is decided from what the published metadata
lists, not from the registry's marks. Writing the registry's side of it
(signed marks, audit events, released claims) must then not turn the task into
a failure because the database connection was lost for a moment: the write is
retried on a fresh connection a few times with a short backoff. If the database
stays unreachable the change is still reported as done, with a warning saying
the registry's marks are stale until the same publish or removal runs again (a
publish selects the version's artifacts not marked signed, and signing a listed
path again changes nothing but the marks; the task's claims on its paths are
released by the claims sweep, see :mod:`tufsync.tasks.claims`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Concatenate, ParamSpec

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from tufsync.db.transactions import Transactions

P = ParamSpec("P")
log = logging.getLogger(__name__)
ATTEMPTS = 5
FIRST_DELAY = 0.1  # seconds; doubled after each failed attempt (0.1 + 0.2 + 0.4 + 0.8)
WARNING = (
    "published, but the database was unreachable, so the registry does not show it yet: "
    "run the same publish or removal again in a few minutes to update its signed marks"
)


def is_connection_loss(exc: BaseException) -> bool:
    """True for errors that a new connection can cure (lost, refused, timed out),
    not for errors of the statement itself (constraints, bad SQL)."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    return isinstance(exc, DisconnectionError | ConnectionError | TimeoutError)


async def record_published(
    transactions: Transactions,
    fn: Callable[Concatenate[Connection, P], object],
    *args: P.args,
    **kwargs: P.kwargs,
) -> bool:
    """Run ``fn(connection, *args)`` in a transaction, retrying on a lost connection.

    True when it committed; False when the connection stayed lost after
    :data:`ATTEMPTS` tries (logged). Other errors propagate at once.
    """
    delay = FIRST_DELAY
    for attempt in range(1, ATTEMPTS + 1):
        try:
            await transactions.run(fn, *args, **kwargs)
            return True
        except Exception as exc:
            if not is_connection_loss(exc):
                raise
            if attempt == ATTEMPTS:
                log.error(
                    "could not record a published change in the registry after %d attempts: %s",
                    attempt,
                    type(exc).__name__,
                    extra={"fields": {"event": "registry_marks_lost"}},
                )
                return False
            log.warning(
                "recording a published change in the registry failed (%s); retrying",
                type(exc).__name__,
            )
            await asyncio.sleep(delay)
            delay *= 2
    return False
