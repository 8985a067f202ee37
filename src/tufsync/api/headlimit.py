"""The request-head bound: how many bytes a request line and its headers may take.

uvicorn's httptools protocol keeps every byte of a request head until the head
is complete (httptools joins the pieces of a header, uvicorn those of the URL),
and neither has a limit: one connection sending an endless header line would grow
the server for as long as it sends. :class:`HeadMeter` counts the head of the
request in progress on one connection, read by read, *before* the bytes reach
that protocol, and says when a head passes the limit (``TUFSYNC_MAX_REQUEST_HEAD_BYTES``,
README "Settings"); the protocol in :mod:`tufsync.api.bounded_protocol` then answers 431.

The meter runs its own ``httptools`` parser with only the callbacks that mark
where a message begins, where its head ends, where its chunks begin and end and
where it ends (no URL or header callbacks), so it keeps nothing of what it
parses. Bytes between two requests (the idle CRLFs a client may send) count as
head bytes.

Trailers (the header lines after a chunked body's last chunk, RFC 9112 §7.1.2)
are kept by httptools as headers are, so they are bounded by the same limit: a
read that starts and ends after a chunk-size line with no chunk data in between
holds only trailer bytes (or the size line's extension), and those count.

Exactness: a head that continues from earlier reads is counted byte for byte,
and a head that ends inside a read is measured up to its terminating empty line
(RFC 9112 §2.1: a non-empty line, then CRLF CRLF). A head that begins after
another request's end inside the same read (pipelining) is counted from the
next read on, so it may exceed the limit by at most that one read (at most
about 256 KiB with uvloop or asyncio), never more.
"""

from __future__ import annotations

import re

import httptools

DEFAULT_MAX_HEAD_BYTES = 64 * 1024
_LEADING_EMPTY_LINES = re.compile(rb"[\r\n]*")
_TAIL = 4  # bytes of the previous read kept so that a split terminator is seen


class HeadMeter:
    """Counts the request head in progress on one HTTP/1.1 connection."""

    def __init__(self, limit: int = DEFAULT_MAX_HEAD_BYTES) -> None:
        self.limit = limit
        self._parser = httptools.HttpRequestParser(self)
        # As uvicorn's own parser: bytes after a "Connection: close" request are no error.
        self._parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._in_head = True  # waiting for a request, or inside its head
        self._begun = False  # a request's first byte was read (its head, then its body)
        self._seen = 0  # bytes of the head in progress counted so far
        self._tail = b""
        self._heads_done = 0
        self._chunk_open = False  # a chunk-size line was read, and no data nor its end since
        self._chunk_moved = False  # chunk data or a chunk's end was read in this read
        self._trailer = 0  # bytes read after a chunk-size line with no chunk data
        self._passthrough = False  # upgraded: the bytes are no longer HTTP/1.1
        self._broken = False  # the parser refused the bytes (the server answers 400)

    @property
    def in_head(self) -> bool:
        """Between requests or inside a request's head (not inside its body)."""
        return self._in_head

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._in_head = self._begun = True

    def on_headers_complete(self) -> None:
        self._heads_done += 1
        self._in_head = False

    def on_message_complete(self) -> None:
        self._in_head = True
        self._begun = False

    def on_chunk_header(self) -> None:
        self._chunk_open = True

    def on_body(self, body: bytes) -> None:
        self._chunk_open = False
        self._chunk_moved = True

    def on_chunk_complete(self) -> None:
        self._chunk_open = False
        self._chunk_moved = True

    def feed(self, data: bytes) -> bool:
        """Count one read; False when the head in progress is now past the limit."""
        if self._passthrough:
            return True
        if self._broken:
            return False
        started_in_head = self._in_head
        started_in_chunk = self._chunk_open
        self._heads_done = 0
        self._chunk_moved = False
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._passthrough = True
        except httptools.HttpParserError:
            # The protocol's parser refuses the same bytes and answers 400; anything
            # read after that is not counted, so it is refused here.
            self._broken = True
            return True
        if started_in_head and self._heads_done:
            # The head counted so far ended in this read: it must end within the limit.
            budget = self.limit - self._seen
            if budget < 0 or not _ends_head(self._tail + data[:budget]):
                return False
        if not self._in_head or self._passthrough:
            self._seen = 0
            self._tail = b""
            if started_in_chunk and self._chunk_open and not self._chunk_moved:
                self._trailer += len(data)  # the whole read came after a chunk-size line
                return self._trailer <= self.limit
            self._trailer = 0
            return True
        self._trailer = 0
        if started_in_head and not self._heads_done:
            self._seen += len(data)  # the same head went on through the whole read
        else:
            self._seen = 0  # a head began inside this read: counted from the next one
        # Kept only once the head has begun, so the tail ends with the head's first
        # bytes (never CR or LF): a match that reaches back before them cannot occur.
        self._tail = (self._tail + data[-_TAIL:])[-_TAIL:] if self._begun else b""
        return self._seen <= self.limit


def _ends_head(window: bytes) -> bool:
    """True when a head ends inside ``window``: after the empty lines a client may send
    before a request, the first CRLF CRLF (the last header line's end and the empty
    line; llhttp accepts no other line end)."""
    start = _LEADING_EMPTY_LINES.match(window).end()  # type: ignore[union-attr]
    return window.find(b"\r\n\r\n", start) != -1
