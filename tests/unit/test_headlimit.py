"""The request-head meter: heads up to the limit pass however the reads split them,
a longer head is refused while it streams in, and bodies never count."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tufsync.api.headlimit import HeadMeter

LIMIT = 1024


def head(size: int, path: str = "/health") -> bytes:
    """A GET head of exactly ``size`` bytes (padded with one header)."""
    start = f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Pad: ".encode()
    pad = size - len(start) - 4
    assert pad >= 0
    return start + b"p" * pad + b"\r\n\r\n"


def post(head_size: int, body: bytes) -> bytes:
    start = b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nX-Pad: " % len(body)
    return start + b"p" * (head_size - len(start) - 4) + b"\r\n\r\n" + body


def feed_in(meter: HeadMeter, data: bytes, cuts: list[int]) -> bool:
    """Feed ``data`` split at ``cuts``; False as soon as the meter refuses a read."""
    points = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return all(meter.feed(data[a:b]) for a, b in itertools.pairwise(points))


def test_a_head_of_exactly_the_limit_passes_and_one_byte_more_is_refused() -> None:
    for step in (1, 7, 100, 1023, 1024, 1025, 5000):
        cuts = list(range(step, LIMIT + 2, step))
        assert feed_in(HeadMeter(LIMIT), head(LIMIT), cuts), step
        assert not feed_in(HeadMeter(LIMIT), head(LIMIT + 1), cuts), step


def test_an_endless_header_is_refused_by_the_read_that_passes_the_limit() -> None:
    meter = HeadMeter(LIMIT)
    sent = 0
    assert meter.feed(b"GET / HTTP/1.1\r\nX-Big: ")
    sent += 23
    while meter.feed(b"a" * 100):
        sent += 100
        assert sent < LIMIT + 100
    assert not meter.feed(b"a"), "a refused connection stays refused"


def test_an_endless_request_line_and_endless_headers_are_refused() -> None:
    line = HeadMeter(LIMIT)
    assert line.feed(b"GET /?q=")
    assert not all(line.feed(b"a" * 256) for _ in range(8))
    many = HeadMeter(LIMIT)
    assert many.feed(b"GET / HTTP/1.1\r\n")
    assert not all(many.feed(b"X-H: v\r\n" * 32) for _ in range(8))


def test_leading_empty_lines_do_not_hide_a_long_head() -> None:
    assert not HeadMeter(LIMIT).feed(b"\r\n\r\n" + head(LIMIT + 100))


def test_bodies_never_count_and_each_request_of_a_connection_has_the_whole_limit() -> None:
    body = b"\r\n\r\n" + b"b" * (50 * LIMIT) + b"\r\n\r\n"
    stream = post(LIMIT, body) + head(LIMIT) + post(LIMIT - 10, b"x") + head(LIMIT)
    for step in (1000, 4096, 65536):
        assert feed_in(HeadMeter(LIMIT), stream, list(range(step, len(stream), step))), step
    first = post(LIMIT, body)
    assert not feed_in(HeadMeter(LIMIT), first + head(LIMIT + 1), [len(first)])


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=80, max_value=LIMIT), min_size=1, max_size=4),
    bodies=st.lists(st.binary(max_size=3000), min_size=4, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=20000), max_size=12),
)
def test_heads_within_the_limit_pass_whatever_the_reads(
    sizes: list[int], bodies: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(
        post(size, body) if body else head(size) for size, body in zip(sizes, bodies, strict=False)
    )
    assert feed_in(HeadMeter(LIMIT), stream, cuts)


@settings(max_examples=200, deadline=None)
@given(
    before=st.binary(max_size=2000),
    extra=st.integers(min_value=1, max_value=3 * LIMIT),
    cuts=st.lists(st.integers(min_value=0, max_value=12000), max_size=12),
)
def test_a_head_past_the_limit_is_refused_whatever_the_reads(
    before: bytes, extra: int, cuts: list[int]
) -> None:
    """Refused, with at most one read of slack when it began after another request
    inside one read (pipelining)."""
    first = post(200, before)
    stream = first + head(LIMIT + extra)
    meter = HeadMeter(LIMIT)
    points = [0, *sorted({c for c in cuts if 0 < c < len(stream)}), len(stream)]
    verdicts = [meter.feed(stream[a:b]) for a, b in itertools.pairwise(points)]
    # The read in which the long head began: it may pass unmeasured if the previous
    # request also ended in it; the rest of the head may not.
    began = next(i for i, b in enumerate(points[1:]) if b > len(first))
    slack = points[began + 1] - len(first) if points[began] < len(first) else 0
    if extra > slack:
        assert False in verdicts


def test_endless_trailers_after_a_chunked_body_are_refused() -> None:
    meter = HeadMeter(LIMIT)
    assert meter.feed(b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert meter.feed(b"5\r\nhello\r\n")
    assert meter.feed(b"2000\r\n" + b"d" * 0x2000 + b"\r\n")  # chunk data never counts
    assert meter.feed(b"0\r\nX-Trailer: ")
    assert not all(meter.feed(b"t" * 256) for _ in range(8))


def test_trailers_within_the_limit_and_slow_chunks_pass() -> None:
    meter = HeadMeter(LIMIT)
    stream = (
        b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"400\r\n"
        + b"d" * 0x400
        + b"\r\n"
        + b"0\r\nX-Trailer: "
        + b"t" * (LIMIT - 100)
        + b"\r\n\r\n"
        + head(LIMIT)
    )
    assert feed_in(meter, stream, list(range(1, len(stream), 37)))
