"""Relational registry: users, apps, versions and artifacts (SQLAlchemy 2 + Alembic).

One way per need to reach the database (all three are on ``Services``):

- ``services.sessions``: ORM sessions, for a request that loads rows, decides, and
  changes them in one transaction (``tufsync.db.engine.make_sessionmaker``).
- ``services.reads``: sessions without a transaction, for a read whose statements need
  not agree with each other, e.g. one SELECT (``tufsync.db.engine.make_read_sessionmaker``).
- ``services.transactions``: a write of prebuilt Core statements run as one synchronous
  function in a transaction of its own (``tufsync.db.transactions``); the same
  functions of ``tufsync.db.queries`` run inside an ORM session's transaction through
  ``tufsync.db.transactions.run_in_session``.
"""
