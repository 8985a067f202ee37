"""The running service's parts, built once at start-up and shared by routes and tasks."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tufsync.auth.passwords import PasswordPool
from tufsync.auth.ratelimit import AttemptLimiter
from tufsync.datadir import secure_data_dir
from tufsync.db import engine as db_engine
from tufsync.db.transactions import Transactions
from tufsync.operations.table import HANDLERS
from tufsync.registry.uploads import sweep_staging
from tufsync.settings import Settings
from tufsync.state import StateStore, instances, open_state_store
from tufsync.state import migrate as state_migrate
from tufsync.storage import ObjectStore, open_configured_store
from tufsync.tasks.claims import sweep_orphan_claims
from tufsync.tasks.contract import Handler
from tufsync.tasks.drafts_sweep import sweep_signed_drafts
from tufsync.tasks.queue import TaskQueue
from tufsync.tasks.records import TaskRecords
from tufsync.tuf.clock import Clock, system_clock
from tufsync.tuf.keys import OnlineKeyStore
from tufsync.tuf.metastore import MetadataCache
from tufsync.tuf.repository import Engine

log = logging.getLogger(__name__)


class StartupRefused(RuntimeError):
    """The service must not start as things are; the message says what to do."""


async def _check_state_schema(settings: Settings, state: StateStore, storage: ObjectStore) -> None:
    """Key names of the state store at their newest schema, as database migrations are:
    the embedded mode upgrades its own SQLite store; scale-out refuses to start."""
    if not await state_migrate.pending(state):
        return
    if settings.resolved_state_url.startswith("sqlite"):
        report = await state_migrate.upgrade(state, storage)
        log.info(
            "state store upgraded: %d entries renamed, %d dropped, %d given to no repository",
            len(report.moved),
            len(report.dropped),
            len(report.unresolved),
        )
        return
    raise StartupRefused(
        "the state store holds entries under old key names: run `tufsync db upgrade` first"
    )


@dataclass
class Services:
    settings: Settings
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    state: StateStore
    storage: ObjectStore
    tuf: Engine
    records: TaskRecords
    queue: TaskQueue
    # One-query reads outside a transaction (no BEGIN/ROLLBACK on PostgreSQL):
    # see db.engine.make_read_sessionmaker for when they may be used.
    reads: async_sessionmaker[AsyncSession]
    # Transactions run as one sync function (one thread hop on SQLite): db.transactions.
    transactions: Transactions
    background: list[asyncio.Task[None]] = field(default_factory=list)
    # The task runner finds each task's handler here (tufsync.tasks.runner).
    handlers: Mapping[str, Handler] = field(default_factory=lambda: HANDLERS)
    passwords: PasswordPool = field(default_factory=PasswordPool)
    attempts: AttemptLimiter = field(
        default_factory=lambda: AttemptLimiter("async+memory://", "30/minute", "10/minute")
    )

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        embedded_worker: bool | None = None,
        clock: Clock = system_clock,
    ) -> Services:
        """Build every part. ``embedded_worker`` defaults to "not scale-out": in
        scale-out mode API processes only enqueue and ``tufsync worker`` runs tasks."""
        if embedded_worker is None:
            embedded_worker = not settings.scale_out
        settings = settings.with_generated_secrets()
        secure_data_dir(settings)
        db = db_engine.make_engine(settings.resolved_database_url)
        state: StateStore | None = None
        try:
            if settings.resolved_database_url.startswith("sqlite"):
                await db_engine.upgrade(db)
            elif await db_engine.pending_migrations(db):
                raise StartupRefused(
                    "the database needs migrations: run `tufsync db upgrade` first"
                )
            state = await open_state_store(settings.resolved_state_url)
            storage = open_configured_store(settings)
            await _check_state_schema(settings, state, storage)
            keys_dir = settings.resolved_online_key_dir
            keys_dir.mkdir(parents=True, exist_ok=True)
        except BaseException:
            if state is not None:
                await state.close()
            await db.dispose()
            raise
        keystore = OnlineKeyStore(keys_dir, settings.signer_uri_prefixes)
        tuf_engine = Engine(storage, state, keystore, MetadataCache(), clock)
        services = cls(
            settings=settings,
            db=db,
            sessions=db_engine.make_sessionmaker(db),
            reads=db_engine.make_read_sessionmaker(db),
            transactions=db_engine.make_transactions(db),
            state=state,
            storage=storage,
            tuf=tuf_engine,
            records=TaskRecords(state),
            queue=TaskQueue(settings),
            passwords=PasswordPool(
                settings.password_hash_workers, settings.password_hash_max_waiting
            ),
            attempts=login_limiter(settings),
        )
        try:
            await services.sweep_staging()
            await instances.announce(state)
            services.background.append(asyncio.create_task(instances.keep_alive(state)))
            if not settings.scale_out:
                # One process runs everything: locks and leases of any other instance
                # belong to a process that died, and are taken over at once.
                dead = await instances.declare_others_dead(state)
                if dead:
                    log.warning("taking over from dead instance(s) %s", ", ".join(dead))
                await sweep_orphan_claims(services)
            await services.queue.start(services, embedded_worker=embedded_worker)
            if not settings.scale_out and embedded_worker:
                # After the unfinished tasks were resumed: signed drafts whose finalize
                # task was never accepted are published now (see tasks.drafts_sweep).
                await sweep_signed_drafts(services)
        except BaseException:
            await services.stop()
            raise
        if embedded_worker:
            services.start_scheduler()
        return services

    async def sweep_staging(self) -> None:
        """Remove what crashed uploads left in staging. Embedded with a local store:
        everything, before the first request (no upload can be running yet).
        Otherwise in the background (a remote store may be slow or down), only what
        is older than any upload (other processes may be uploading now)."""
        if not self.settings.scale_out and self.storage.is_local:
            await _sweep(self.storage, 0.0)
        else:
            age = self.settings.staging_max_age_seconds
            self.background.append(asyncio.create_task(_sweep(self.storage, age)))

    def start_scheduler(self) -> None:
        from tufsync.tasks.scheduler import run_scheduler

        interval = self.settings.refresh_interval_seconds
        self.background.append(asyncio.create_task(run_scheduler(self, interval)))

    async def stop(self) -> None:
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.queue.stop()
        self.passwords.close()
        await self.state.close()
        await self.transactions.dispose()
        await self.db.dispose()


def settle_heap() -> None:
    """Move everything alive after start-up (modules, settings, pools) out of the
    garbage collector's reach. A full collection otherwise walks those hundreds of
    thousands of objects and, under load, stalls the event loop for up to a
    second while a big task allocates (measured during a 16,384-bin bootstrap)."""
    gc.collect()
    gc.freeze()


async def _sweep(storage: ObjectStore, age: float) -> None:
    try:
        removed = await sweep_staging(storage, age)
    except Exception as exc:
        log.warning("could not sweep upload staging leftovers: %s", exc)
        return
    if removed:
        log.info("removed %d leftover staging object(s) of interrupted uploads", removed)


def login_limiter(settings: Settings) -> AttemptLimiter:
    """Login/signup attempt windows: in memory (embedded) or in Redis (scale-out)."""
    client, username = settings.login_limit_per_client, settings.login_limit_per_username
    if settings.redis_url:
        return AttemptLimiter.for_redis(settings.redis_url, client, username)
    return AttemptLimiter("async+memory://", client, username)
