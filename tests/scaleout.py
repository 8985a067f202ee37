"""Fixtures for the scale-out parts: moto's S3 server, a fresh PostgreSQL database, Redis;
a running cluster of them (2 API processes, 2 workers) that test modules share; and a
proxy in front of PostgreSQL that loses a COMMIT's answer (:class:`PgProxy`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import boto3
import httpx
import pytest
import redis
from moto.server import ThreadedMotoServer

from tests.support import Api, ServerProcess, free_port, run_server, start_tufsync, unique_name

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_BASE = "redis://127.0.0.1:6379"
# Parallel checkouts on one machine set this so their suites never share a Redis database.
TEST_REDIS_DB = int(os.environ.get("TUFSYNC_TEST_REDIS_DB", "9"))
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    bucket: str

    def storage_url(self, prefix: str = "tufsync") -> str:
        return f"s3://{self.bucket}/{prefix}"

    def env(self) -> dict[str, str]:
        return {
            "TUFSYNC_S3_ENDPOINT": self.url,
            "TUFSYNC_S3_REGION": "us-east-1",
            "TUFSYNC_S3_ACCESS_KEY_ID": "testing",
            "TUFSYNC_S3_SECRET_ACCESS_KEY": "testing",
        }


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    os.environ.update(S3_CREDENTIALS)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    bucket = f"tufsync-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=bucket)
    yield S3Endpoint(url, bucket)
    server.stop()


async def _admin_async(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _admin(sql: str) -> None:
    """Run one administrative statement (in a thread: callers may be inside an event loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin_async(sql)).result()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (fails if PostgreSQL is down)."""
    name = f"tufsync_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def flushed_redis_db() -> Iterator[str]:
    """The Redis database number of this checkout, flushed before and after."""
    client = redis.Redis.from_url(f"{REDIS_BASE}/{TEST_REDIS_DB}")
    client.flushdb()
    try:
        yield f"{REDIS_BASE}/{TEST_REDIS_DB}"
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def redis_db() -> Iterator[str]:
    """A Redis database number of its own, flushed before and after (fails if Redis is down)."""
    with flushed_redis_db() as url:
        yield url


@dataclass
class Cluster:
    apis: list[ServerProcess]
    env: dict[str, str]
    root: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        process, _ = start_tufsync("worker", self.root / name, self.env, "worker.log")
        self.workers.append(process)
        return process

    @property
    def key_dir(self) -> Path:
        return Path(self.env["TUFSYNC_ONLINE_KEY_DIR"])


def upgrade_database(env: dict[str, str]) -> None:
    """``tufsync db upgrade`` with the settings ``env`` (the database a test's scale-out
    processes share), as an operator runs it before starting them."""
    subprocess.run(
        [sys.executable, "-m", "tufsync", "db", "upgrade"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )


@contextmanager
def running_cluster(
    root: Path,
    s3: S3Endpoint,
    pg_url: str,
    redis_url: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """Scale-out mode for real: 2 API processes and 2 workers on Redis, PostgreSQL and S3
    (moto), their files under ``root`` (``extra_env``: more settings for every process)."""
    env = {
        "TUFSYNC_REDIS_URL": redis_url,
        "TUFSYNC_DATABASE_URL": pg_url,
        "TUFSYNC_STORAGE_URL": s3.storage_url(f"cluster-{root.name}"),
        "TUFSYNC_ONLINE_KEY_DIR": str(root / "keys"),
        "TUFSYNC_JWT_SECRET": "cluster-secret-0123456789abcdef0123456789",
        "TUFSYNC_SIGNUP_KEY": "test-signup-key",
        "TUFSYNC_TASK_REDELIVERY_SECONDS": "3",
        "TUFSYNC_LOG_LEVEL": "warning",
        **s3.env(),
        **(extra_env or {}),
    }
    upgrade_database(env)
    with ExitStack() as stack:
        apis = [stack.enter_context(run_server(root / f"api{i}", env)) for i in range(2)]
        env["TUFSYNC_PUBLIC_URL"] = apis[0].public_url
        cluster = Cluster(apis, env, root)
        for i in range(2):
            cluster.start_worker(f"worker{i}")
        try:
            yield cluster
        finally:
            for worker in cluster.workers:
                worker.kill()
                worker.wait()


def clients(cluster: Cluster) -> list[Api]:
    """One new admin, logged in through each of the two API processes."""
    first = Api(cluster.apis[0], unique_name("so"))
    second = Api.__new__(Api)
    second.server = cluster.apis[1]
    second.username = first.username
    second.http = httpx.Client(base_url=cluster.apis[1].url, timeout=60)
    second.http.headers["Authorization"] = first.http.headers["Authorization"]
    return [first, second]


class PgProxy:
    """A TCP proxy in front of PostgreSQL that can lose a COMMIT's answer: a real
    network fault between the server under test and a real database.

    Armed with :meth:`lose_commit_answer`, the first connection that sends
    ``marker`` (SQL text, e.g. the first ``INSERT INTO artifacts`` it prepares) and
    then ``COMMIT`` gets its COMMIT through to PostgreSQL; when PostgreSQL answers
    (the commit is durable) the proxy drops that connection instead of passing the
    answer on. With ``then_cut_off`` every other connection is dropped too and new
    ones are refused until :meth:`heal`: the database is unreachable.
    """

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.lost = threading.Event()
        self._marker: bytes | None = None
        self._cut_off_after = False
        self._refusing = False
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, pg_url: str) -> str:
        """``pg_url`` pointed at the proxy."""
        return pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.port}")

    def lose_commit_answer(self, marker: bytes, *, then_cut_off: bool = False) -> None:
        with self._lock:
            self._marker = marker
            self._cut_off_after = then_cut_off
            self.lost.clear()

    def heal(self) -> None:
        with self._lock:
            self._refusing = False

    def close(self) -> None:
        self.listener.close()
        self._drop_all()

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._open = set(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._refusing:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._open |= {client, server}
            doomed = threading.Event()
            threading.Thread(target=self._up, args=(client, server, doomed), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, doomed), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, doomed: threading.Event) -> None:
        seen = b""
        marked = False
        while data := self._recv(client):
            seen = (seen + data)[-4096:]
            with self._lock:
                if self._marker is not None and not marked and self._marker in seen:
                    marked = True
                if marked and self._marker is not None and b"COMMIT" in data:
                    self._marker = None  # once
                    doomed.set()
            if not self._send(server, data):
                break
        self._end(client, server)

    def _down(self, server: socket.socket, client: socket.socket, doomed: threading.Event) -> None:
        while data := self._recv(server):
            if doomed.is_set():  # the COMMIT's answer: PostgreSQL committed
                with self._lock:
                    self._refusing = self._cut_off_after
                if self._cut_off_after:
                    self._drop_all()
                self.lost.set()
                break
            if not self._send(client, data):
                break
        self._end(client, server)

    def _end(self, *sockets: socket.socket) -> None:
        """Close both sides of a proxied connection (the other thread's recv ends)."""
        with self._lock:
            self._open -= set(sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        try:
            return sock.recv(65536)
        except OSError:
            return b""

    @staticmethod
    def _send(sock: socket.socket, data: bytes) -> bool:
        try:
            sock.sendall(data)
        except OSError:
            return False
        return True


@pytest.fixture
def pg_proxy() -> Iterator[PgProxy]:
    proxy = PgProxy()
    yield proxy
    proxy.close()
