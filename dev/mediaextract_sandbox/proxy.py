"""A loopback HTTP/1.1 reverse proxy that counts requests in flight and injects faults.

It sits between an S3 client (boto3) and the sandbox Swift proxy so tests can prove, from the
server side, how many requests a job had in flight at once, and can make storage misbehave on
demand (error bursts, resets, slow or truncated responses). Pure stdlib, no Spark.

Requests are forwarded byte for byte: the request line (path and query as sent, never
re-encoded) and the header block reach upstream exactly as the client wrote them, because SigV4
signs both. Bodies are streamed in both directions, never held whole in memory.

One thread per client connection, each with its own keep-alive connection to upstream: the
upstream therefore sees exactly as many connections as the client opened.

    with FaultProxy("127.0.0.1", swift_port, fault_for=first_attempts(2, Respond(503))) as proxy:
        run_job(endpoint=proxy.endpoint)
        assert proxy.peak_in_flight <= 4

CLI (for a job in another process, and for benchmarks):

    python -m mediaextract_sandbox.proxy --upstream 127.0.0.1:8080 [--listen 0] [--latency 0.2]
        [--stats-file stats.json]

prints its endpoint on the first line of stdout, runs until SIGTERM/SIGINT, then writes its
figures (peak in flight, total requests, statuses) as JSON to the stats file.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import http
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from types import MappingProxyType
from typing import Callable, Mapping, Optional, Union
from urllib.parse import unquote_to_bytes

_CHUNK = 64 * 1024
_MAX_LINE = 64 * 1024
_MAX_HEADERS = 256
_REASONS = {int(status): status.phrase for status in http.HTTPStatus}
_CLOSE_TIMEOUT_S = 5.0
_CONNECT_TIMEOUT_S = 10.0

__all__ = [
    "FaultProxy", "RequestInfo", "RequestRecord", "Fault", "FaultRule",
    "Respond", "Reset", "Delay", "Truncate",
    "always", "first_attempts", "every_nth", "first_of", "main",
]


# --------------------------------------------------------------------------------------------
# Faults


@dataclasses.dataclass(frozen=True)
class Respond:
    """A fault: answer with this status, headers and body without contacting upstream."""

    status: int
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def s3_error(cls, status: int, code: str, message: str = "",
                 headers: Optional[Mapping[str, str]] = None) -> "Respond":
        """Gives a Respond whose body is an S3 XML error, so botocore reports `code`."""
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                "<RequestId>fault-proxy</RequestId></Error>").encode()
        return cls(status, {"Content-Type": "application/xml", **(headers or {})}, body)


@dataclasses.dataclass(frozen=True)
class Reset:
    """A fault: close the client connection with an RST, no response, upstream not contacted."""


@dataclasses.dataclass(frozen=True)
class Delay:
    """A fault: wait `seconds` (cut short by close()), then forward normally."""

    seconds: float


@dataclasses.dataclass(frozen=True)
class Truncate:
    """A fault: forward, send upstream's head unchanged, then `fraction` of the body, then close."""

    fraction: float = 0.5

    def __post_init__(self):
        if not 0.0 <= self.fraction < 1.0:
            raise ValueError(f"Truncate fraction must be in [0, 1), got {self.fraction}")


Fault = Union[Respond, Reset, Delay, Truncate]
_FAULT_TYPES = (Respond, Reset, Delay, Truncate)


@dataclasses.dataclass(frozen=True)
class RequestInfo:
    """What a fault rule sees of one request (after its header block was read)."""

    method: str
    path: str                   # as on the wire, percent-encoding kept, without the query
    query: str                  # as on the wire, without the "?"; "" when absent
    headers: Mapping[str, str]  # lower-case names; a repeated header keeps its last value
    seq: int                    # 1-based number of the request since start / reset_stats()
    attempt: int                # 1-based count of requests with this method and path so far
    conn_id: int                # which client connection it came on

    @property
    def target(self) -> str:
        """Gives the request target as sent: path, plus "?query" when there is one."""
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def unquoted_path(self) -> str:
        """Gives the path percent-decoded as UTF-8 (e.g. "/bucket/café" for "/bucket/caf%C3%A9")."""
        return unquote_to_bytes(self.path.encode("latin-1")).decode("utf-8", "replace")


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """One finished request in the proxy's log."""

    seq: int
    conn_id: int
    method: str
    path: str
    query: str
    status: Optional[int]       # status sent to the client; None if none was (reset, failure)
    start: float                # time.monotonic() when the request line was read
    end: float                  # time.monotonic() after the last response byte, or the failure
    fault: Optional[str]        # "respond", "reset", "delay", "truncate" or None
    error: Optional[str]        # why the exchange failed, None if it completed
    body_bytes: int             # response body bytes sent to the client


FaultRule = Callable[[RequestInfo], Optional[Fault]]


# Helpers for the common rules. `method` filters on the method ("GET", or a tuple of them);
# `path` is an exact path, raw or percent-decoded ("/bucket/café" matches "/bucket/caf%C3%A9"),
# or a predicate on RequestInfo.

def _matcher(method, path) -> Callable[[RequestInfo], bool]:
    methods = None if method is None else {m.upper() for m in ((method,) if isinstance(method, str) else method)}

    def matches(req: RequestInfo) -> bool:
        if methods is not None and req.method.upper() not in methods:
            return False
        if path is None:
            return True
        if callable(path):
            return bool(path(req))
        return req.path == path or req.unquoted_path == path

    return matches


def always(fault: Fault, *, method=None, path=None) -> FaultRule:
    """Gives a rule that applies `fault` to every matching request (e.g. all requests 403)."""
    matches = _matcher(method, path)
    return lambda req: fault if matches(req) else None


def first_attempts(n: int, fault: Fault, *, method=None, path=None) -> FaultRule:
    """Gives a rule applying `fault` to the first `n` attempts of each matching method+path."""
    matches = _matcher(method, path)
    return lambda req: fault if matches(req) and req.attempt <= n else None


def every_nth(n: int, fault: Fault, *, method=None, path=None) -> FaultRule:
    """Gives a rule applying `fault` to requests n, 2n, 3n... (global seq) that match."""
    matches = _matcher(method, path)
    return lambda req: fault if matches(req) and req.seq % n == 0 else None


def first_of(*rules: Optional[FaultRule]) -> FaultRule:
    """Gives a rule answering with the first fault any of `rules` gives, in order."""
    live = [rule for rule in rules if rule is not None]

    def rule(req: RequestInfo) -> Optional[Fault]:
        for candidate in live:
            fault = candidate(req)
            if fault is not None:
                return fault
        return None

    return rule


# --------------------------------------------------------------------------------------------
# HTTP plumbing


class _ProtocolError(Exception):
    pass


class _UpstreamClosed(Exception):
    """Upstream closed or reset before sending any byte of a response."""


class _Aborted(Exception):
    """The proxy is closing."""


class _Reader:
    """Buffered reads from a socket; unlike io.BufferedReader it tells how much is buffered."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()

    @property
    def pending(self) -> int:
        return len(self.buf)

    def readline(self) -> bytes:
        """Gives one line with its newline; shorter (or b"") only at end of stream."""
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > _MAX_LINE:
                raise _ProtocolError("line too long")
            start = len(self.buf)
            data = self.sock.recv(_CHUNK)
            if not data:
                line = bytes(self.buf)
                self.buf.clear()
                return line
            self.buf += data

    def read_some(self, n: int) -> bytes:
        """Gives 1..n bytes, or b"" at end of stream."""
        if self.buf:
            data = bytes(self.buf[:n])
            del self.buf[:n]
            return data
        return self.sock.recv(min(n, _CHUNK))


class _Discard:
    def sendall(self, data) -> None:
        pass


def _read_header_block(reader: _Reader) -> tuple[list[bytes], dict[str, str]]:
    """Gives the raw header lines (incl. the blank one) and a lower-case name -> value map."""
    lines: list[bytes] = []
    headers: dict[str, str] = {}
    last = None
    while True:
        line = reader.readline()
        if not line.endswith(b"\n"):
            raise _ProtocolError("connection closed inside a header block")
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return lines, headers
        if len(lines) > _MAX_HEADERS:
            raise _ProtocolError("too many headers")
        text = line.decode("latin-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and last is not None:   # obsolete line folding
            headers[last] = f"{headers[last]} {text.strip()}"
            continue
        name, sep, value = text.partition(":")
        if not sep:
            raise _ProtocolError(f"malformed header line {text[:40]!r}")
        last = name.strip().lower()
        headers[last] = value.strip()


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",") if token.strip()}


def _is_chunked(headers: Mapping[str, str]) -> bool:
    codings = [c.strip().lower() for c in headers.get("transfer-encoding", "").split(",") if c.strip()]
    return bool(codings) and codings[-1] == "chunked"


def _content_length(headers: Mapping[str, str]) -> Optional[int]:
    value = headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value.split(",")[0].strip())
    except ValueError:
        raise _ProtocolError(f"bad Content-Length {value!r}") from None
    if length < 0:
        raise _ProtocolError(f"bad Content-Length {value!r}")
    return length


def _relay_exact(src: _Reader, dst, n: int, before_last=None) -> int:
    """Copy n bytes; call before_last() just before handing the client the final bytes."""
    remaining = n
    while remaining:
        data = src.read_some(min(remaining, _CHUNK))
        if not data:
            raise _ProtocolError(f"peer closed with {remaining} of {n} body bytes unsent")
        if before_last is not None and len(data) == remaining:
            before_last()
        dst.sendall(data)
        remaining -= len(data)
    return n


def _relay_chunked(src: _Reader, dst) -> int:
    """Relays a chunked body as is (sizes, extensions, trailers); gives the payload size."""
    total = 0
    while True:
        line = src.readline()
        if not line.endswith(b"\n"):
            raise _ProtocolError("peer closed inside a chunked body")
        dst.sendall(line)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _ProtocolError(f"bad chunk size line {line[:40]!r}") from None
        if size == 0:
            while True:
                trailer = src.readline()
                if not trailer.endswith(b"\n"):
                    raise _ProtocolError("peer closed inside chunked trailers")
                dst.sendall(trailer)
                if trailer in (b"\r\n", b"\n"):
                    return total
        _relay_exact(src, dst, size)
        total += size
        crlf = src.readline()
        if crlf not in (b"\r\n", b"\n"):
            raise _ProtocolError("missing CRLF after a chunk")
        dst.sendall(crlf)


def _relay_to_eof(src: _Reader, dst) -> int:
    total = 0
    while True:
        data = src.read_some(_CHUNK)
        if not data:
            return total
        dst.sendall(data)
        total += len(data)


def _shutdown(sock: Optional[socket.socket]) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _simple_response(status: int, headers: Mapping[str, str], body: bytes, *, head_only: bool,
                     close: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    names = {name.lower() for name in headers}
    bodyless = status in (204, 304) or 100 <= status < 200
    if not bodyless and "content-length" not in names:
        lines.append(f"Content-Length: {len(body)}")
    if close and "connection" not in names:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only or bodyless else head + body


class _Upstream:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.reader = _Reader(sock)

    def looks_closed(self) -> bool:
        """Gives True if upstream closed (or spoke unprompted) while the connection sat idle."""
        if self.reader.pending:
            return True
        return _readable(self.sock)


class _ClientConnection:
    """Serves one client connection, request after request, in its own thread."""

    def __init__(self, proxy: "FaultProxy", sock: socket.socket, conn_id: int):
        self.proxy = proxy
        self.sock = sock
        self.conn_id = conn_id
        self.reader = _Reader(sock)
        self.upstream: Optional[_Upstream] = None
        self.thread: Optional[threading.Thread] = None

    # Called from close() in another thread: only shuts sockets down (that wakes blocked
    # recv/send); the connection's own thread closes them, so no descriptor is closed twice.
    def abort(self) -> None:
        _shutdown(self.sock)
        upstream = self.upstream
        if upstream is not None:
            _shutdown(upstream.sock)

    def run(self) -> None:
        try:
            while not self.proxy._stop.is_set():
                if not self._serve_one():
                    break
        except Exception as error:   # a bug in the proxy, not a network failure
            self.proxy._note_error(f"conn {self.conn_id}: {error!r}")
        finally:
            self._drop_upstream()
            try:
                self.sock.close()
            except OSError:
                pass
            self.proxy._forget(self)

    def _drop_upstream(self) -> None:
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            try:
                upstream.sock.close()
            except OSError:
                pass

    def _reset_client(self) -> None:
        # SO_LINGER with a zero timeout makes close() send an RST instead of a FIN.
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass

    def _serve_one(self) -> bool:
        """Serves one request; gives whether the client connection stays open."""
        try:
            line = self.reader.readline()
            while line in (b"\r\n", b"\n"):   # RFC 9112 2.2: ignore blank lines before a request
                line = self.reader.readline()
        except (OSError, _ProtocolError):
            return False
        if not line:
            return False
        start = time.monotonic()
        parts = line.rstrip(b"\r\n").split(b" ")
        well_formed = len(parts) == 3 and parts[2].startswith(b"HTTP/")
        method = parts[0].decode("latin-1") if well_formed else ""
        target = parts[1].decode("latin-1") if well_formed else ""
        path, _, query = target.partition("?")
        seq, attempt, generation = self.proxy._begin(method, path)
        rec = {"seq": seq, "conn_id": self.conn_id, "method": method, "path": path,
               "query": query, "status": None, "start": start, "fault": None, "error": None,
               "body_bytes": 0}
        try:
            if not well_formed:
                rec["error"] = "malformed request line"
                self._send_simple(rec, 400, {}, b"", head_only=False, close=True)
                return False
            header_lines, headers = _read_header_block(self.reader)
            info = RequestInfo(method, path, query, MappingProxyType(headers), seq, attempt,
                               self.conn_id)
            return self._handle(info, line, header_lines, parts[2].decode("latin-1"), rec)
        except _Aborted:
            rec["error"] = "proxy closed"
            return False
        except (OSError, _ProtocolError, _UpstreamClosed) as error:
            rec["error"] = f"{type(error).__name__}: {error}"
            return False
        finally:
            self.proxy._end(rec, generation)

    def _send_simple(self, rec: dict, status: int, headers: Mapping[str, str], body: bytes, *,
                     head_only: bool, close: bool) -> None:
        data = _simple_response(status, headers, body, head_only=head_only, close=close)
        self.proxy._leave(rec)   # the client may send its next request the moment this arrives
        self.sock.sendall(data)
        rec["status"] = status
        rec["body_bytes"] = 0 if head_only or status in (204, 304) else len(body)

    def _handle(self, info: RequestInfo, request_line: bytes, header_lines: list[bytes],
                version: str, rec: dict) -> bool:
        headers = info.headers
        chunked = _is_chunked(headers)
        length = 0 if chunked else (_content_length(headers) or 0)
        has_body = chunked or length > 0
        expect = has_body and headers.get("expect", "").lower() == "100-continue"
        connection = _tokens(headers.get("connection", ""))
        client_keep = ("close" not in connection if version == "HTTP/1.1"
                       else "keep-alive" in connection)

        fault = self.proxy._fault(info)
        if isinstance(fault, Reset):
            rec["fault"] = "reset"
            rec["error"] = "reset by fault"
            self._reset_client()
            return False
        if isinstance(fault, Respond):
            rec["fault"] = "respond"
            if has_body:
                # Take the body off the wire so the connection stays usable.
                if expect and not self.reader.pending:
                    self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                self._copy_request_body(_Discard(), chunked, length)
            self._send_simple(rec, fault.status, fault.headers, fault.body,
                              head_only=info.method == "HEAD", close=not client_keep)
            return client_keep
        if isinstance(fault, Delay):
            rec["fault"] = "delay"
            if self.proxy._stop.wait(fault.seconds):
                raise _Aborted()
        latency = self.proxy.latency_s
        if latency > 0 and self.proxy._stop.wait(latency):
            raise _Aborted()
        truncate = fault if isinstance(fault, Truncate) else None
        if truncate is not None:
            rec["fault"] = "truncate"
        head = request_line + b"".join(header_lines)
        return self._forward(info, head, chunked, length, expect, client_keep, truncate, rec)

    def _copy_request_body(self, dst, chunked: bool, length: int) -> None:
        if chunked:
            _relay_chunked(self.reader, dst)
        else:
            _relay_exact(self.reader, dst, length)

    def _connect_upstream(self) -> tuple[_Upstream, bool]:
        """Gives an upstream connection and whether it is a reused one."""
        if self.upstream is not None:
            if not self.upstream.looks_closed():
                return self.upstream, True
            self._drop_upstream()
        sock = socket.create_connection((self.proxy.upstream_host, self.proxy.upstream_port),
                                        timeout=_CONNECT_TIMEOUT_S)
        sock.settimeout(None)   # waits are bounded by the client's own timeouts, not ours
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.upstream = _Upstream(sock)
        if self.proxy._stop.is_set():   # close() may have run before it could see this socket
            raise _Aborted()
        return self.upstream, False

    def _forward(self, info: RequestInfo, head: bytes, chunked: bool, length: int, expect: bool,
                 client_keep: bool, truncate: Optional[Truncate], rec: dict) -> bool:
        has_body = chunked or length > 0
        replayable = not has_body
        sent_to_client = False
        for try_number in (1, 2):
            try:
                upstream, reused = self._connect_upstream()
            except OSError as error:
                rec["error"] = f"upstream unreachable: {error}"
                self._send_simple(rec, 502, {}, b"upstream unreachable\n",
                                  head_only=info.method == "HEAD", close=True)
                return False
            try:
                upstream.sock.sendall(head)
                body_sent = not has_body
                if has_body and not expect:
                    self._copy_request_body(upstream.sock, chunked, length)
                    body_sent = True
                while True:
                    if not body_sent:
                        self._wait_for_continue_or_body(upstream)
                        if self.reader.pending and not upstream.reader.pending:
                            self._copy_request_body(upstream.sock, chunked, length)
                            body_sent = True
                    status, resp_head, resp_headers, resp_version = _read_response_head(upstream)
                    if 100 <= status < 200 and status != 101:
                        self.sock.sendall(resp_head)
                        sent_to_client = True
                        if status == 100 and not body_sent:
                            self._copy_request_body(upstream.sock, chunked, length)
                            body_sent = True
                        continue
                    break
                break
            except _UpstreamClosed:
                self._drop_upstream()
                if reused and replayable and try_number == 1:
                    continue
                if not sent_to_client:
                    rec["error"] = "upstream closed without a response"
                    self._send_simple(rec, 502, {}, b"upstream closed without a response\n",
                                      head_only=info.method == "HEAD", close=True)
                    return False
                raise
            except ConnectionError as error:
                # Which side failed? Without a byte to the client yet, answer like a gateway.
                self._drop_upstream()
                if reused and replayable and try_number == 1 and not sent_to_client:
                    continue
                if not sent_to_client and _peer_alive(self.sock):
                    rec["error"] = f"upstream failed: {error}"
                    self._send_simple(rec, 502, {}, b"upstream failed\n",
                                      head_only=info.method == "HEAD", close=True)
                    return False
                raise

        rec["status"] = status
        resp_connection = _tokens(resp_headers.get("connection", ""))
        upstream_keep = ("close" not in resp_connection if resp_version == "HTTP/1.1"
                         else "keep-alive" in resp_connection)
        if not body_sent:
            # Upstream answered before asking for the body: the client may or may not send it
            # now, so neither connection can be trusted to stay in step.
            upstream_keep = client_keep = False

        bodyless = info.method == "HEAD" or status in (204, 304)
        resp_chunked = not bodyless and _is_chunked(resp_headers)
        resp_length = None if bodyless or resp_chunked else _content_length(resp_headers)
        if not bodyless and not resp_chunked and resp_length is None:
            upstream_keep = client_keep = False   # body delimited by upstream closing

        if truncate is not None:
            self._send_truncated(upstream, resp_head, bodyless, resp_chunked, resp_length,
                                 truncate, rec)
            return False

        # The request stops counting as in flight just before the client gets its last byte:
        # once it has it, the client may start another request, which must not overlap this one.
        if bodyless or resp_length == 0:
            self.proxy._leave(rec)
        self.sock.sendall(resp_head)
        if bodyless:
            rec["body_bytes"] = 0
        elif resp_chunked:
            rec["body_bytes"] = _relay_chunked(upstream.reader, self.sock)
        elif resp_length is not None:
            rec["body_bytes"] = _relay_exact(upstream.reader, self.sock, resp_length,
                                             before_last=lambda: self.proxy._leave(rec))
        else:
            rec["body_bytes"] = _relay_to_eof(upstream.reader, self.sock)
        if not upstream_keep:
            self._drop_upstream()
        return client_keep and upstream_keep

    def _wait_for_continue_or_body(self, upstream: _Upstream) -> None:
        """Waits until upstream answers (100 or final) or the client starts its body anyway."""
        if self.reader.pending or upstream.reader.pending:
            return
        poller = select.poll()
        poller.register(upstream.sock, select.POLLIN)
        poller.register(self.sock, select.POLLIN)
        events = dict(poller.poll())
        if self.proxy._stop.is_set():
            raise _Aborted()
        if upstream.sock.fileno() in events:
            return
        if self.sock.fileno() in events:
            data = self.sock.recv(_CHUNK)
            if not data:
                raise _ProtocolError("client closed before sending its body")
            self.reader.buf += data

    def _send_truncated(self, upstream: _Upstream, resp_head: bytes, bodyless: bool,
                        resp_chunked: bool, resp_length: Optional[int], truncate: Truncate,
                        rec: dict) -> None:
        self.sock.sendall(resp_head)
        sent = 0
        if not bodyless and resp_chunked:
            size_line = upstream.reader.readline()
            self.sock.sendall(size_line)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                size = 0
            sent = _relay_exact(upstream.reader, self.sock, int(size * truncate.fraction))
        elif not bodyless and resp_length:
            sent = _relay_exact(upstream.reader, self.sock,
                                min(int(resp_length * truncate.fraction), resp_length - 1))
        rec["body_bytes"] = sent
        rec["error"] = "truncated by fault"
        self._drop_upstream()
        # A plain close (FIN): the client sees the stream end short of Content-Length.
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _readable(sock: socket.socket, timeout_s: float = 0.0) -> bool:
    """Gives whether `sock` has data or an end-of-stream to read (poll: no FD_SETSIZE limit)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(timeout_s * 1000))


def _peer_alive(sock: socket.socket) -> bool:
    try:
        if not _readable(sock):
            return True
        return sock.recv(1, socket.MSG_PEEK) != b""
    except OSError:
        return False


def _read_response_head(upstream: _Upstream) -> tuple[int, bytes, dict[str, str], str]:
    """Gives status, raw head bytes, lower-case headers and HTTP version of upstream's answer."""
    try:
        line = upstream.reader.readline()
    except ConnectionError as error:
        raise _UpstreamClosed(str(error)) from None
    if not line:
        raise _UpstreamClosed("upstream closed the connection")
    parts = line.rstrip(b"\r\n").split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise _ProtocolError(f"bad status line from upstream {line[:60]!r}")
    header_lines, headers = _read_header_block(upstream.reader)
    return int(parts[1]), line + b"".join(header_lines), headers, parts[0].decode("latin-1")


# --------------------------------------------------------------------------------------------
# The proxy


class FaultProxy:
    """A loopback reverse proxy to `upstream_host:upstream_port` that counts and injects faults.

    `fault_for` and `latency_s` may be changed at any time, from any thread; each request reads
    them once, when its header block has arrived.
    """

    def __init__(self, upstream_host: str, upstream_port: int, listen_port: int = 0,
                 latency_s: float = 0.0, fault_for: Optional[FaultRule] = None):
        self.upstream_host = upstream_host
        self.upstream_port = int(upstream_port)
        self.listen_port = int(listen_port)
        self.latency_s = float(latency_s)
        self.fault_for = fault_for
        self.port: Optional[int] = None
        # Bugs in the proxy and exceptions raised by fault rules: tests should find it empty.
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: Optional[socket.socket] = None
        self._accept_thread: Optional[threading.Thread] = None
        self._conns: dict[int, _ClientConnection] = {}
        self._next_conn_id = 0
        self._in_flight = 0
        self._left: set[int] = set()   # requests no longer in flight whose record is not written yet
        self._recorded = threading.Condition(self._lock)  # notified when such a record is written
        self._generation = 0
        self._zero_stats()

    def _zero_stats(self) -> None:
        self._peak = self._in_flight
        self._total = 0
        self._seq = 0
        self._attempts: collections.Counter = collections.Counter()
        self._log: list[RequestRecord] = []
        self._status_counts: collections.Counter = collections.Counter()

    # -- lifecycle

    def start(self) -> "FaultProxy":
        """Gives self, listening on 127.0.0.1 (port in .port, URL in .endpoint)."""
        if self._listener is not None:
            raise RuntimeError("FaultProxy already started")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.listen_port))
        listener.listen(256)
        # A timeout so the accept loop notices close() even where shutdown() does not wake it.
        listener.settimeout(0.5)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                               name=f"fault-proxy-{self.port}")
        self._accept_thread.start()
        return self

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise RuntimeError("FaultProxy not started")
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stops listening and cuts every connection; requests in flight fail. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._listener is not None:
            _shutdown(self._listener)
            try:
                self._listener.close()
            except OSError:
                pass
        with self._lock:
            conns = list(self._conns.values())
        for conn in conns:
            conn.abort()
        deadline = time.monotonic() + _CLOSE_TIMEOUT_S
        if self._accept_thread is not None:
            self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        for conn in conns:
            if conn.thread is not None:
                conn.thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> "FaultProxy":
        return self if self._listener is not None else self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                self._stop.wait(0.05)   # e.g. out of descriptors: do not spin
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stop.is_set():
                    sock.close()
                    return
                self._next_conn_id += 1
                conn = _ClientConnection(self, sock, self._next_conn_id)
                self._conns[conn.conn_id] = conn
            conn.thread = threading.Thread(target=conn.run, daemon=True,
                                           name=f"fault-proxy-{self.port}-conn-{conn.conn_id}")
            conn.thread.start()

    def _forget(self, conn: _ClientConnection) -> None:
        with self._lock:
            self._conns.pop(conn.conn_id, None)

    # -- bookkeeping

    def _begin(self, method: str, path: str) -> tuple[int, int, int]:
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            self._total += 1
            self._seq += 1
            self._attempts[(method, path)] += 1
            return self._seq, self._attempts[(method, path)], self._generation

    def _leave(self, rec: dict) -> None:
        """Stop counting a request as in flight (once; _end does it if nothing did before)."""
        with self._lock:
            if id(rec) not in self._left:
                self._left.add(id(rec))
                self._in_flight -= 1

    def _end(self, rec: dict, generation: int) -> None:
        record = RequestRecord(end=time.monotonic(), **rec)
        self._leave(rec)
        with self._lock:
            self._left.discard(id(rec))
            # A request begun before reset_stats() still leaves the in-flight count, but is not
            # logged, so the log and the totals describe the same requests.
            if generation == self._generation:
                self._log.append(record)
                if record.status is not None:
                    self._status_counts[record.status] += 1
            self._recorded.notify_all()

    SETTLE_S = 10.0

    def _settle(self) -> None:
        """With the lock held: wait (at most SETTLE_S) until every request that has left flight is
        recorded. A request leaves flight just before its client gets the last byte, and is
        recorded after: a reader that saw in_flight == 0, or whose client had its answer, would
        otherwise miss the last records on a busy machine."""
        self._recorded.wait_for(lambda: not self._left, timeout=self.SETTLE_S)

    def _fault(self, info: RequestInfo) -> Optional[Fault]:
        rule = self.fault_for
        if rule is None:
            return None
        try:
            fault = rule(info)
        except Exception as error:
            self._note_error(f"fault rule raised on request {info.seq}: {error!r}")
            return Respond(500, {}, b"fault rule raised\n")
        if fault is not None and not isinstance(fault, _FAULT_TYPES):
            self._note_error(f"fault rule gave {fault!r} on request {info.seq}")
            return Respond(500, {}, b"fault rule gave a non-fault\n")
        return fault

    def _note_error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    def reset_stats(self) -> None:
        """Zeroes totals, log, statuses, seq and attempt counts; peak restarts at in_flight."""
        with self._lock:
            self._generation += 1
            self._zero_stats()

    @property
    def peak_in_flight(self) -> int:
        with self._lock:
            return self._peak

    @property
    def total_requests(self) -> int:
        """Requests whose request line was read (finished or not) since start/reset_stats()."""
        with self._lock:
            return self._total

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def client_port(self, conn_id: int) -> Optional[int]:
        """Gives the client's port of an open connection (to find the process that holds it), else None."""
        with self._lock:
            conn = self._conns.get(conn_id)
        try:
            return conn.sock.getpeername()[1] if conn is not None else None
        except OSError:
            return None

    @property
    def log(self) -> list[RequestRecord]:
        """Finished requests, in the order they finished (every request no longer in flight)."""
        with self._lock:
            self._settle()
            return list(self._log)

    @property
    def status_counts(self) -> collections.Counter:
        """Statuses sent to clients (resets and failures without a response are not counted)."""
        with self._lock:
            self._settle()
            return collections.Counter(self._status_counts)

    def stats(self) -> dict:
        """Gives the figures as a JSON-ready dict."""
        with self._lock:
            return {
                "endpoint": f"http://127.0.0.1:{self.port}",
                "upstream": f"{self.upstream_host}:{self.upstream_port}",
                "peak_in_flight": self._peak,
                "total_requests": self._total,
                "in_flight": self._in_flight,
                "status_counts": {str(k): v for k, v in sorted(self._status_counts.items())},
                "latency_s": self.latency_s,
                "errors": list(self.errors),
            }


# --------------------------------------------------------------------------------------------
# CLI


def _parse_host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def main(argv: Optional[list[str]] = None) -> int:
    """Gives the exit code after running a proxy until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m mediaextract_sandbox.proxy",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, type=_parse_host_port, help="HOST:PORT")
    parser.add_argument("--listen", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds added to every forwarded request")
    parser.add_argument("--stats-file", help="where to write the figures as JSON on exit")
    args = parser.parse_args(argv)

    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    proxy = FaultProxy(args.upstream[0], args.upstream[1], listen_port=args.listen,
                       latency_s=args.latency).start()
    print(proxy.endpoint, flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        proxy.close()
        if args.stats_file:
            tmp = f"{args.stats_file}.tmp"
            with open(tmp, "w", encoding="utf-8") as out:
                json.dump(proxy.stats(), out, indent=2, sort_keys=True)
                out.write("\n")
            os.replace(tmp, args.stats_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
