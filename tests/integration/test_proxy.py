"""FaultProxy against a real local HTTP/1.1 upstream: forwarding, counting, faults, boto3."""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import mediaextract
from mediaextract_sandbox.proxy import (
    Delay,
    FaultProxy,
    Reset,
    Respond,
    Truncate,
    always,
    every_nth,
    first_attempts,
    first_of,
)

pytestmark = pytest.mark.timeout(60)

DEADLINE_S = 10.0


def wait_for(condition, what: str, timeout_s: float = DEADLINE_S) -> None:
    """Polls `condition` until it holds; fails the test with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def settled(proxy: FaultProxy, n: int) -> list:
    """Gives the proxy's log, sorted by seq, once `n` requests finished and none is in flight.

    A client can read the last byte of a response a moment before the proxy books it.
    """
    wait_for(lambda: proxy.in_flight == 0 and len(proxy.log) == n, f"{n} requests logged")
    return sorted(proxy.log, key=lambda record: record.seq)


# --------------------------------------------------------------------------------------------
# A tiny upstream: in-memory objects, records every request's raw head bytes.


@dataclasses.dataclass
class Received:
    method: str
    path: str            # target without the query, as on the wire
    head: bytes          # request line + header block, exactly as received
    headers: dict        # lower-case name -> value
    body: bytes
    client_port: int     # identifies the upstream connection the request came on


class _RecordingReader:
    """Wraps the handler's rfile so the raw header lines can be compared byte for byte."""

    def __init__(self, raw):
        self._raw = raw
        self.lines: list[bytes] = []

    def readline(self, size=-1):
        line = self._raw.readline(size)
        self.lines.append(line)
        return line

    def read(self, size=-1):
        return self._raw.read(size)

    def __getattr__(self, name):
        return getattr(self._raw, name)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.rfile = _RecordingReader(self.rfile)

    def log_message(self, *args):
        pass

    def _record(self, body: bytes) -> None:
        head = b"".join(line for line in self.rfile.lines if line not in (b"\r\n", b"\n"))
        head += b"\r\n"
        self.rfile.lines.clear()
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.upstream.record(Received(self.command, self.path.partition("?")[0], head,
                                             headers, body, self.client_address[1]))

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _get(self, send_body: bool) -> None:
        upstream = self.server.upstream
        self._record(b"")
        path = self.path.partition("?")[0]
        if path.startswith("/hold/"):
            upstream.hold()
        data = upstream.objects.get(path)
        if data is None:
            data, status = b"no such object\n", 404
        else:
            status = 200
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", '"etag"')
        self.end_headers()
        if send_body:
            self.wfile.write(data)
        if "quietly-close" in self.path.partition("?")[2]:
            # Drop the connection after answering, without a "Connection: close" warning, the
            # way a server drops an idle keep-alive connection.
            self.close_connection = True

    def do_GET(self):
        self._get(send_body=True)

    def do_HEAD(self):
        self._get(send_body=False)

    def do_PUT(self):
        body = self._read_body()
        self._record(body)
        self.server.upstream.objects[self.path.partition("?")[0]] = body
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.send_header("ETag", '"etag"')
        self.end_headers()

    def do_DELETE(self):
        self._record(b"")
        self.server.upstream.objects.pop(self.path.partition("?")[0], None)
        self.send_response(204)
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The proxy cutting a connection mid-answer (close(), faults) is expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class TinyUpstream:
    def __init__(self):
        self.objects: dict[str, bytes] = {}
        self.received: list[Received] = []
        self.release = threading.Event()   # requests to /hold/... wait on it
        self.held = 0
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.upstream = self
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def hold(self) -> None:
        with self._lock:
            self.held += 1
        self.release.wait(DEADLINE_S * 3)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream():
    server = TinyUpstream()
    yield server
    server.close()


@pytest.fixture
def proxy(upstream):
    with FaultProxy("127.0.0.1", upstream.port) as fault_proxy:
        yield fault_proxy
    assert fault_proxy.errors == []
    assert fault_proxy.in_flight == 0


def connect(proxy: FaultProxy, timeout: float = DEADLINE_S) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)


def get(conn: http.client.HTTPConnection, path: str, method: str = "GET"):
    conn.request(method, path)
    response = conn.getresponse()
    return response.status, response.read(), response


def raw_exchange(proxy: FaultProxy, head: bytes) -> http.client.HTTPResponse:
    """Sends `head` on a fresh socket and gives the parsed response (body already read)."""
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=DEADLINE_S)
    try:
        sock.sendall(head)
        response = http.client.HTTPResponse(sock, method=head.split(b" ", 1)[0].decode())
        response.begin()
        response.body = response.read()
        return response
    finally:
        sock.close()


# --------------------------------------------------------------------------------------------
# Forwarding


def test_request_head_reaches_upstream_byte_for_byte(proxy, upstream):
    # Raw UTF-8, an encoded slash, a quote and an odd query: the SigV4 signature covers them.
    path = b"/bucket/caf\xc3\xa9/na%C3%AFve%2Fpart/it's%20here"
    upstream.objects[path.decode("latin-1")] = b"payload"
    head = (b"GET " + path + b"?versionId=abc%2Fdef&x-id=GetObject&empty= HTTP/1.1\r\n"
            b"Host: 127.0.0.1:9\r\n"
            b"Authorization: AWS4-HMAC-SHA256 Credential=AKIDSANDBOX/20260101/us-east-1/s3/"
            b"aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd\r\n"
            b"X-Amz-Date: 20260101T000000Z\r\n"
            b"x-MiXeD-case: value with  spaces \r\n"
            b"X-Repeated: 1\r\n"
            b"X-Repeated: 2\r\n"
            b"\r\n")

    response = raw_exchange(proxy, head)

    assert (response.status, response.body) == (200, b"payload")
    assert [r.head for r in upstream.received] == [head]
    [record] = settled(proxy, 1)
    assert (record.method, record.path, record.query, record.status) == (
        "GET", path.decode("latin-1"), "versionId=abc%2Fdef&x-id=GetObject&empty=", 200)


def test_keep_alive_connections_are_reused_on_both_sides(proxy, upstream):
    upstream.objects["/b/k"] = b"x" * 1000
    first, second = connect(proxy), connect(proxy)
    try:
        statuses = [get(conn, "/b/k")[0] for conn in (first, first, first, second, second)]
    finally:
        first.close()
        second.close()

    assert statuses == [200] * 5
    conn_ids = [record.conn_id for record in settled(proxy, 5)]
    assert conn_ids[0] == conn_ids[1] == conn_ids[2] != conn_ids[3] == conn_ids[4]
    ports = [r.client_port for r in upstream.received]
    assert ports[0] == ports[1] == ports[2] != ports[3] == ports[4]


def test_head_and_204_have_no_body_and_keep_the_connection_in_step(proxy, upstream):
    upstream.objects["/b/k"] = b"0123456789"
    conn = connect(proxy)
    try:
        status, body, response = get(conn, "/b/k", method="HEAD")
        assert (status, body, response.getheader("Content-Length")) == (200, b"", "10")
        assert get(conn, "/b/k", method="DELETE")[:2] == (204, b"")
        assert get(conn, "/b/k")[:2] == (404, b"no such object\n")
        upstream.objects["/b/k"] = b"back"
        assert get(conn, "/b/k")[:2] == (200, b"back")
    finally:
        conn.close()
    assert len({r.conn_id for r in settled(proxy, 4)}) == 1
    assert proxy.status_counts == {200: 2, 204: 1, 404: 1}


def test_put_bodies_stream_through_with_content_length_and_chunked(proxy, upstream):
    big = bytes(range(256)) * (8 * 1024 * 1024 // 256 + 7)   # ~8 MB, not a multiple of chunks
    conn = connect(proxy)
    try:
        conn.request("PUT", "/b/big", body=big)
        assert conn.getresponse().read() == b""
        conn.request("PUT", "/b/chunked", body=iter([b"abc", b"", b"defgh" * 1000]),
                     encode_chunked=True)
        chunked_response = conn.getresponse()
        assert (chunked_response.status, chunked_response.read()) == (200, b"")
        status, body, _ = get(conn, "/b/big")
    finally:
        conn.close()

    assert (status, len(body), body == big) == (200, len(big), True)
    assert upstream.objects["/b/big"] == big
    assert upstream.objects["/b/chunked"] == b"abc" + b"defgh" * 1000
    assert [r.body_bytes for r in settled(proxy, 3)] == [0, 0, len(big)]


def test_put_with_expect_100_continue_gets_upstream_continue_first(proxy, upstream):
    body = b"expected body"
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=DEADLINE_S)
    try:
        sock.sendall(b"PUT /b/expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(1024)
        assert interim.startswith(b"HTTP/1.1 100")
        sock.sendall(body)
        response = http.client.HTTPResponse(sock, method="PUT")
        response.begin()
        assert response.status == 200
    finally:
        sock.close()
    assert upstream.objects["/b/expect"] == body


def test_expect_100_continue_with_the_body_sent_at_once(proxy, upstream):
    body = b"impatient client"
    head = (b"PUT /b/eager HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    response = raw_exchange(proxy, head + body)
    assert response.status == 200
    assert upstream.objects["/b/eager"] == body


def test_upstream_dropping_an_idle_connection_is_invisible_to_the_client(proxy, upstream):
    upstream.objects["/b/k"] = b"k"
    conn = connect(proxy)
    try:
        answers = [get(conn, "/b/k?quietly-close")[:2] for _ in range(3)]
    finally:
        conn.close()
    assert answers == [(200, b"k")] * 3
    assert len({r.client_port for r in upstream.received}) == 3
    assert len({r.conn_id for r in settled(proxy, 3)}) == 1


def test_upstream_unreachable_gives_502(upstream):
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    dead_port = spare.getsockname()[1]
    spare.close()
    with FaultProxy("127.0.0.1", dead_port) as proxy:
        conn = connect(proxy)
        try:
            assert get(conn, "/b/k")[0] == 502
        finally:
            conn.close()
        settled(proxy, 1)
        assert proxy.status_counts == {502: 1}


# --------------------------------------------------------------------------------------------
# Counting


def test_peak_counts_requests_held_in_flight_together(proxy, upstream):
    n = 6
    for i in range(n):
        upstream.objects[f"/hold/{i}"] = b"held %d" % i
    results: dict[int, tuple] = {}

    def fetch(i):
        conn = connect(proxy)
        try:
            results[i] = get(conn, f"/hold/{i}")[:2]
        finally:
            conn.close()

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: upstream.held == n, f"{n} requests held upstream")
        assert proxy.in_flight == n
        assert proxy.peak_in_flight == n
    finally:
        upstream.release.set()
        for thread in threads:
            thread.join(DEADLINE_S)

    assert results == {i: (200, b"held %d" % i) for i in range(n)}
    wait_for(lambda: proxy.in_flight == 0, "no request in flight")
    assert (proxy.peak_in_flight, proxy.total_requests) == (n, n)
    log = proxy.log
    assert len({r.conn_id for r in log}) == n
    assert all(r.start <= r.end for r in log)
    # The log tells the same story: every request overlapped all the others.
    latest_start = max(r.start for r in log)
    assert all(r.end >= latest_start for r in log)


def test_sequential_requests_peak_at_one_and_reset_stats_restarts(proxy, upstream):
    upstream.objects["/b/k"] = b"k"
    conn = connect(proxy)
    try:
        for _ in range(3):
            get(conn, "/b/k")
        settled(proxy, 3)
        assert (proxy.peak_in_flight, proxy.total_requests, len(proxy.log)) == (1, 3, 3)
        proxy.reset_stats()
        assert (proxy.peak_in_flight, proxy.total_requests, proxy.log) == (0, 0, [])
        assert proxy.status_counts == {}
        get(conn, "/b/k")
    finally:
        conn.close()
    [record] = settled(proxy, 1)
    assert (proxy.peak_in_flight, proxy.total_requests, proxy.status_counts) == (1, 1, {200: 1})
    assert record.seq == 1


# --------------------------------------------------------------------------------------------
# Faults


def test_503_burst_then_success_with_retry_after_passed(proxy, upstream):
    upstream.objects["/b/k"] = b"finally"
    proxy.fault_for = first_attempts(2, Respond(503, {"Retry-After": "3"}, b"slow down"),
                                     method="GET")
    conn = connect(proxy)
    try:
        answers = [get(conn, "/b/k") for _ in range(3)]
    finally:
        conn.close()

    assert [(status, body) for status, body, _ in answers] == [
        (503, b"slow down"), (503, b"slow down"), (200, b"finally")]
    assert [response.getheader("Retry-After") for _, _, response in answers[:2]] == ["3", "3"]
    assert len(upstream.received) == 1
    assert [r.fault for r in settled(proxy, 3)] == ["respond", "respond", None]
    assert proxy.status_counts == {503: 2, 200: 1}


def test_error_statuses_without_retry_after_never_reach_upstream(proxy, upstream):
    conn = connect(proxy)
    try:
        got = []
        for status in (503, 429, 500, 401, 403):
            proxy.fault_for = always(Respond(status))
            got.append((status, get(conn, "/b/k")))
        # A HEAD answered by a fault still gets a Content-Length and no body.
        proxy.fault_for = always(Respond.s3_error(403, "AccessDenied", "no"))
        head_status, head_body, head_response = get(conn, "/b/k", method="HEAD")
        # A PUT answered by a fault has its body drained: the connection stays usable.
        conn.request("PUT", "/b/k", body=b"z" * 100_000)
        put_response = conn.getresponse()
        put_status, _ = put_response.status, put_response.read()
        proxy.fault_for = None
        upstream.objects["/b/k"] = b"ok"
        after = get(conn, "/b/k")[:2]
    finally:
        conn.close()

    assert [(want, status) for want, (status, _, _) in got] == [(s, s) for s, _ in got]
    assert [response.getheader("Retry-After") for _, (_, _, response) in got] == [None] * 5
    assert (head_status, head_body) == (403, b"")
    assert int(head_response.getheader("Content-Length")) > 0
    assert (put_status, after) == (403, (200, b"ok"))
    assert len(upstream.received) == 1


def test_reset_gives_a_client_connection_error(proxy, upstream):
    upstream.objects["/b/k"] = b"k"
    proxy.fault_for = always(Reset())
    conn = connect(proxy)
    try:
        with pytest.raises(ConnectionError):
            get(conn, "/b/k")
    finally:
        conn.close()
    [record] = settled(proxy, 1)
    assert (record.status, record.fault) == (None, "reset")
    assert upstream.received == []
    assert proxy.status_counts == {}


def test_every_third_request_resets(proxy, upstream):
    upstream.objects["/b/k"] = b"k"
    proxy.fault_for = every_nth(3, Reset())
    outcomes = []
    conn = connect(proxy)
    try:
        for _ in range(6):
            try:
                outcomes.append(get(conn, "/b/k")[0])
            except ConnectionError:
                outcomes.append("reset")
                conn.close()
                conn = connect(proxy)
    finally:
        conn.close()
    assert outcomes == [200, 200, "reset", 200, 200, "reset"]
    assert len(upstream.received) == 4


def test_delay_longer_than_client_timeout_times_the_client_out(proxy, upstream):
    upstream.objects["/b/k"] = b"k"
    proxy.fault_for = first_attempts(1, Delay(60), method="GET")
    conn = connect(proxy, timeout=0.3)
    try:
        with pytest.raises(TimeoutError):
            get(conn, "/b/k")
    finally:
        conn.close()
    assert proxy.in_flight == 1
    assert upstream.received == []
    # The second attempt is not delayed.
    conn = connect(proxy)
    try:
        assert get(conn, "/b/k")[:2] == (200, b"k")
    finally:
        conn.close()
    # The fixture's close() must cut the 60 s delay short; pytest-timeout guards the hang.


def test_latency_applies_to_forwarded_requests_and_can_change_at_runtime(proxy, upstream):
    upstream.objects["/b/k"] = b"k"
    proxy.latency_s = 60.0
    slow = connect(proxy, timeout=0.2)
    try:
        slow.request("GET", "/b/k")
        wait_for(lambda: proxy.in_flight == 1, "the slow request in flight")
        proxy.latency_s = 0.0
        fast = connect(proxy)
        try:
            assert get(fast, "/b/k")[:2] == (200, b"k")
        finally:
            fast.close()
        # Only the fast request got through: the slow one is still waiting out its latency.
        wait_for(lambda: len(proxy.log) == 1, "the fast request logged")
        assert len(upstream.received) == 1
        assert proxy.in_flight == 1
    finally:
        slow.close()


def test_truncate_sends_full_content_length_then_part_of_the_body(proxy, upstream):
    upstream.objects["/b/t"] = bytes(100_000)
    proxy.fault_for = first_attempts(1, Truncate(0.25), method="GET", path="/b/t")
    conn = connect(proxy)
    try:
        conn.request("GET", "/b/t")
        response = conn.getresponse()
        assert (response.status, response.getheader("Content-Length")) == (200, "100000")
        with pytest.raises(http.client.IncompleteRead) as short:
            response.read()
    finally:
        conn.close()
    assert (len(short.value.partial), short.value.expected) == (25_000, 75_000)

    conn = connect(proxy)
    try:
        assert get(conn, "/b/t")[:2] == (200, bytes(100_000))
    finally:
        conn.close()
    first, second = settled(proxy, 2)
    assert (first.fault, first.status, first.body_bytes) == ("truncate", 200, 25_000)
    assert (second.fault, second.body_bytes) == (None, 100_000)


def test_rule_sees_seq_and_per_method_path_attempts(proxy, upstream):
    upstream.objects["/b/caf%C3%A9"] = b"c"
    seen = []

    def rule(request):
        seen.append((request.seq, request.method, request.path, request.attempt))
        return None

    proxy.fault_for = first_of(rule, always(Respond(418), method="GET", path="/b/café"))
    conn = connect(proxy)
    try:
        statuses = [get(conn, path, method)[0] for method, path in [
            ("GET", "/a"), ("GET", "/a"), ("GET", "/b/caf%C3%A9"), ("HEAD", "/a"),
            ("GET", "/a?x=1")]]
        proxy.reset_stats()
        statuses.append(get(conn, "/a")[0])
    finally:
        conn.close()

    assert seen == [(1, "GET", "/a", 1), (2, "GET", "/a", 2), (3, "GET", "/b/caf%C3%A9", 1),
                    (4, "HEAD", "/a", 1), (5, "GET", "/a", 3), (1, "GET", "/a", 1)]
    assert statuses == [404, 404, 418, 404, 404, 404]


def test_a_rule_that_raises_gives_500_and_is_reported(proxy, upstream):
    def broken(request):
        raise RuntimeError("bug in the test's rule")

    proxy.fault_for = broken
    conn = connect(proxy)
    try:
        assert get(conn, "/b/k")[0] == 500
    finally:
        conn.close()
    assert len(proxy.errors) == 1 and "bug in the test's rule" in proxy.errors[0]
    proxy.errors.clear()


def test_close_with_requests_in_flight_does_not_hang(upstream):
    upstream.objects.update({f"/hold/{i}": b"h" for i in range(3)})
    proxy = FaultProxy("127.0.0.1", upstream.port,
                       fault_for=always(Delay(60), path="/delayed")).start()
    failures = []

    def fetch(path):
        conn = connect(proxy)
        try:
            get(conn, path)
        except (OSError, http.client.HTTPException) as error:
            failures.append(type(error))
        finally:
            conn.close()

    paths = ["/hold/0", "/hold/1", "/hold/2", "/delayed"]
    threads = [threading.Thread(target=fetch, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: upstream.held == 3 and proxy.in_flight == 4, "4 requests in flight")
        closer = threading.Thread(target=proxy.close)
        closer.start()
        closer.join(DEADLINE_S)
        assert not closer.is_alive()
        for thread in threads:
            thread.join(DEADLINE_S)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        upstream.release.set()
        proxy.close()
    assert len(failures) == 4
    assert proxy.in_flight == 0
    assert proxy.peak_in_flight == 4
    assert all(record.status is None and record.error for record in proxy.log)


def test_cli_runs_until_sigterm_and_writes_its_stats(upstream, tmp_path):
    upstream.objects["/b/k"] = b"k"
    stats_file = tmp_path / "stats.json"
    lib_dir = str(pathlib.Path(mediaextract.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [lib_dir, *filter(None, [os.environ.get("PYTHONPATH")])])}
    process = subprocess.Popen(
        [sys.executable, "-m", "mediaextract_sandbox.proxy", "--upstream",
         f"127.0.0.1:{upstream.port}", "--stats-file", str(stats_file)],
        stdout=subprocess.PIPE, text=True, env=env)
    try:
        endpoint = process.stdout.readline().strip()
        assert endpoint.startswith("http://127.0.0.1:")
        conn = http.client.HTTPConnection("127.0.0.1", int(endpoint.rsplit(":", 1)[1]),
                                          timeout=DEADLINE_S)
        try:
            answers = [get(conn, "/b/k")[:2] for _ in range(3)]
        finally:
            conn.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(DEADLINE_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    assert answers == [(200, b"k")] * 3
    stats = json.loads(stats_file.read_text())
    assert (stats["endpoint"], stats["peak_in_flight"], stats["total_requests"]) == (endpoint, 1, 3)
    assert stats["status_counts"] == {"200": 3}


# --------------------------------------------------------------------------------------------
# boto3


def _s3_client(endpoint: str, **config):
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    return session.create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="AKIDSANDBOX", aws_secret_access_key="sandbox-not-a-secret",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      connect_timeout=5, read_timeout=10, **config))


def test_boto3_get_reaches_upstream_with_its_signature_intact(proxy, upstream):
    upstream.objects["/bucket/key"] = b"hello"
    client = _s3_client(proxy.endpoint, retries={"mode": "standard", "max_attempts": 1})
    sent = {}

    def capture(request, **_):
        sent.update({name.lower(): value.decode() if isinstance(value, bytes) else value
                     for name, value in request.headers.items()})

    client.meta.events.register("before-send.s3.GetObject", capture)
    body = client.get_object(Bucket="bucket", Key="key")["Body"].read()

    assert body == b"hello"
    [received] = upstream.received
    assert (received.method, received.path) == ("GET", "/bucket/key")
    assert received.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDSANDBOX/")
    assert received.headers["authorization"] == sent["authorization"]
    assert received.headers["host"] == f"127.0.0.1:{proxy.port}"
    assert received.headers["x-amz-date"] == sent["x-amz-date"]


def test_boto3_put_with_expect_and_a_retried_503(proxy, upstream):
    client = _s3_client(proxy.endpoint, retries={"mode": "standard", "max_attempts": 2},
                        request_checksum_calculation="when_required")
    proxy.fault_for = first_attempts(1, Respond.s3_error(503, "SlowDown", "reduce your rate"),
                                     method="PUT")

    client.put_object(Bucket="bucket", Key="obj", Body=b"\x00\x01 payload")

    assert upstream.objects["/bucket/obj"] == b"\x00\x01 payload"
    [received] = upstream.received
    assert received.headers.get("expect") == "100-continue"
    assert [(r.method, r.status) for r in settled(proxy, 2)] == [
        ("PUT", 503), ("PUT", 200)]
