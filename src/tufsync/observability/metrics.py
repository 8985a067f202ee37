"""Prometheus metrics: what is counted where, and the page ``/metrics`` serves.

Counters and histograms are updated where things happen (request middleware,
task runner, publish batches). Values that are facts about the stored data
(seconds until each role of each repository expires, offline roles inside the
warning horizon and those with a renewing draft pending, queue depth) are read
at scrape time, so a repository that goes away drops its series at once and
label cardinality stays one series per repository and role (a repository's
hash bins share one series, ``bins-*``).

Several processes serving one port (``tufsync serve --workers N``) share
their counters through prometheus-client's multi-process mode: the
directory in ``PROMETHEUS_MULTIPROC_DIR`` must be set before this module is
imported, and is emptied by the parent process at start.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from tufsync.tuf.refresh import RefreshSchedule

# No ``*_created`` series: they would double the page for nothing.
disable_created_metrics()  # type: ignore[no-untyped-call]
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

if os.environ.get(MULTIPROC_ENV):
    # Metric files are written there from the first count on: the folder must exist.
    Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)

REQUESTS = Counter(
    "tufsync_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "tufsync_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
)
TASKS = Counter(
    "tufsync_tasks_total",
    "Tasks that ran, by task name and outcome (success, failure, timeout, error, unfinished).",
    ["task", "outcome"],
)
TASK_SECONDS = Histogram(
    "tufsync_task_duration_seconds",
    "Time a task ran, by task name.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
BATCH_SIZE = Histogram(
    "tufsync_publish_batch_size",
    "Publish and removal tasks merged into one metadata change.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)


# The labelled series of each (method, route template, status): ``labels()`` takes a
# lock and builds its key on every call; these are looked up once. Bounded because
# methods, route templates and status codes are (unmatched paths share one route).
_request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    series = _request_series.get(key)
    if series is None:
        series = (
            REQUESTS.labels(method, route, str(status)),
            REQUEST_SECONDS.labels(method, route),
        )
        _request_series[key] = series
    series[0].inc()
    series[1].observe(seconds)


def observe_task(name: str, outcome: str, seconds: float) -> None:
    TASKS.labels(name, outcome).inc()
    TASK_SECONDS.labels(name).observe(seconds)


def observe_batch(size: int) -> None:
    BATCH_SIZE.observe(size)


# -- multi-process mode ------------------------------------------------------
def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def prepare_multiprocess_dir(path: Path) -> None:
    """Empty (or create) the shared directory before any serving process starts.

    Call it in the parent, then export ``PROMETHEUS_MULTIPROC_DIR`` to the children.
    """
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)


def process_exiting() -> None:
    """Tell the multi-process files that this process is gone (live gauges drop it)."""
    if multiprocess_dir() is not None:
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


# -- scrape-time values ------------------------------------------------------
@dataclass
class Snapshot:
    """Facts read from the state store and the queue just before a scrape."""

    now: datetime
    horizon: timedelta
    schedules: list[RefreshSchedule] = field(default_factory=list)
    queue_depth: int | None = None
    # (admin, app, role) of offline roles with a draft awaiting signatures.
    drafts_pending: set[tuple[str, str, str]] = field(default_factory=set)


HASH_BIN = re.compile(r"bins-[0-9a-f]+")
BINS_LABEL = "bins-*"


def collapse_bins(expires: dict[str, float]) -> dict[str, float]:
    """Hash bins (``bins-00`` … ``bins-ff``, up to thousands per repository) as one
    series, ``bins-*``, carrying the soonest expiry among them."""
    out: dict[str, float] = {}
    for role, when in expires.items():
        key = BINS_LABEL if HASH_BIN.fullmatch(role) else role
        out[key] = min(when, out.get(key, when))
    return out


class SnapshotCollector:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        now = snap.now.timestamp()
        expires = GaugeMetricFamily(
            "tufsync_role_expires_in_seconds",
            "Seconds until a role of a repository expires (negative: expired); "
            "signing is online (refreshed by the service) or offline (key holders re-sign).",
            labels=["admin", "app", "role", "signing"],
        )
        warnings = GaugeMetricFamily(
            "tufsync_offline_role_expiry_warnings",
            "Offline roles (root, offline targets, offline delegated roles) that expire "
            "within the warning horizon, or have expired.",
            labels=["admin", "app"],
        )
        for schedule in snap.schedules:
            for role, when in sorted(collapse_bins(schedule.expires).items()):
                expires.add_metric([schedule.admin, schedule.app, role, "online"], when - now)
            for role, when in sorted(schedule.offline.items()):
                expires.add_metric([schedule.admin, schedule.app, role, "offline"], when - now)
            count = len(schedule.expiring_offline(snap.now, snap.horizon))
            if count:
                warnings.add_metric([schedule.admin, schedule.app], count)
        renewals = GaugeMetricFamily(
            "tufsync_offline_role_renewal_pending",
            "1 for each offline role with a draft awaiting its key holders' signatures "
            "(a renewal, a release or a root rotation): signed, it renews the role. Until "
            "then the role keeps its expiry and its warnings.",
            labels=["admin", "app", "role"],
        )
        for admin, app, role in sorted(snap.drafts_pending):
            renewals.add_metric([admin, app, role], 1)
        yield expires
        yield warnings
        yield renewals
        horizon = GaugeMetricFamily(
            "tufsync_expiry_warning_horizon_seconds",
            "How long before expiry an offline role is warned about.",
        )
        horizon.add_metric([], snap.horizon.total_seconds())
        yield horizon
        if snap.queue_depth is not None:
            depth = GaugeMetricFamily(
                "tufsync_task_queue_depth",
                "Tasks accepted by the queue and not yet finished (waiting or running).",
            )
            depth.add_metric([], snap.queue_depth)
            yield depth


class _Pages:
    """Everything one scrape shows: this process's (or all processes') counters
    followed by the snapshot."""

    def __init__(self, parts: Iterable[object]) -> None:
        self.parts = list(parts)

    def collect(self) -> Iterator[Metric]:
        for part in self.parts:
            yield from part.collect()  # type: ignore[attr-defined]


def render(snapshot: Snapshot | None) -> bytes:
    """The Prometheus text page."""
    if multiprocess_dir() is not None:
        counters = CollectorRegistry()
        MultiProcessCollector(counters)  # type: ignore[no-untyped-call]
        base: object = counters
    else:
        base = REGISTRY
    parts = [base] if snapshot is None else [base, SnapshotCollector(snapshot)]
    return generate_latest(_Pages(parts))  # type: ignore[arg-type]
