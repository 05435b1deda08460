"""Connection-level limits (serving/connection_guard.py): idle, half-sent-head and stalled-body
connections are closed, and a client that stops reading its reply is aborted, within the configured
timeouts while other clients are served (issue 12).

The timeouts here are short (0.5 s; 1 s for a stalled reply) and every wait is bounded; each assertion is about *whether* a
connection was closed by a generous deadline, never about how fast anything ran."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.requests import ClientDisconnect

from mobigen.serving.connection_guard import ConnectionLimits
from mobigen.serving.server import ServerThread

LIMITS = ConnectionLimits(header_timeout_s=0.5, body_idle_timeout_s=0.5, keep_alive_s=0.5, send_stall_timeout_s=1.0,
                          max_header_bytes=4096)
BIG_REPLY = 32 << 20  # bytes: far more than any socket buffer holds, so a client that never reads stalls it
CLOSED_BY_S = 8.0  # generous bound for "the server closed it" on a loaded 2-core machine


def _echo_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict:
        return {"ok": True}

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:  # the guard closed a stalled upload: nobody is left to answer
            return Response(status_code=400)
        return JSONResponse({"n": len(body)})

    @app.get("/big")
    async def big() -> StreamingResponse:
        async def chunks():  # noqa: ANN202 - 32 MB in 1 MB pieces; notes when the stream ended
            try:
                for _ in range(BIG_REPLY >> 20):
                    yield b"z" * (1 << 20)
            finally:
                app.state.big_streams_ended += 1

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    app.state.big_streams_ended = 0
    return app


@pytest.fixture(scope="module")
def server():
    with ServerThread(_echo_app(), limits=LIMITS) as srv:
        yield srv


def _connect(srv: ServerThread) -> socket.socket:
    s = socket.create_connection((srv.host, srv.port), timeout=CLOSED_BY_S)
    s.settimeout(CLOSED_BY_S)
    return s


def _closed_by_server(s: socket.socket) -> bool:
    """True when the server closes the connection (EOF or reset) before CLOSED_BY_S; drains any reply."""
    t_end = time.monotonic() + CLOSED_BY_S
    try:
        while time.monotonic() < t_end:
            chunk = s.recv(65536)
            if not chunk:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    finally:
        s.close()
    return False


def test_idle_connection_is_closed(server):
    before = server.guard_stats.header_timeouts
    assert _closed_by_server(_connect(server))
    assert server.guard_stats.header_timeouts == before + 1


def test_half_sent_head_is_closed(server):
    s = _connect(server)
    s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")  # no blank line: the head never completes
    assert _closed_by_server(s)


def test_slowloris_head_cannot_extend_its_deadline(server):
    """Dribbling one header byte at a time does not reset the header deadline (it is absolute)."""
    s = _connect(server)
    s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    closed = False
    t_end = time.monotonic() + CLOSED_BY_S
    try:
        while time.monotonic() < t_end:
            s.sendall(b"a")
            time.sleep(0.1)
    except OSError:
        closed = True
    finally:
        s.close()
    assert closed


def test_stalled_body_is_closed_and_counted(server):
    before = server.guard_stats.body_timeouts
    s = _connect(server)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\nx")
    assert _closed_by_server(s)
    assert server.guard_stats.body_timeouts == before + 1


def test_a_client_that_never_reads_its_reply_is_aborted_and_others_are_served(server):
    """Slow read: the client asks for a large reply and never reads. Once the socket is full the reply
    must move again within send_stall_timeout_s; it does not, so the connection is aborted, counted,
    and the app's streaming task ends (nothing is held for that client). Another client is served
    meanwhile, and after."""
    before, ended = server.guard_stats.send_timeouts, server.app.state.big_streams_ended
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small receive window
    s.settimeout(CLOSED_BY_S)
    s.connect((server.host, server.port))
    try:
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        with httpx.Client(base_url=server.url, timeout=CLOSED_BY_S) as client:
            assert client.get("/ping").json() == {"ok": True}
            t_end = time.monotonic() + CLOSED_BY_S
            while server.guard_stats.send_timeouts == before and time.monotonic() < t_end:
                time.sleep(0.05)
            assert server.guard_stats.send_timeouts == before + 1
            while server.app.state.big_streams_ended == ended and time.monotonic() < t_end:
                time.sleep(0.05)
            assert server.app.state.big_streams_ended == ended + 1
            assert client.get("/ping").json() == {"ok": True}
        got = 0
        try:  # the aborted connection: what the kernel had buffered, then EOF or a reset
            while chunk := s.recv(1 << 20):
                got += len(chunk)
        except ConnectionResetError:
            pass
        assert got < BIG_REPLY
    finally:
        s.close()


def test_a_slow_reader_that_keeps_reading_gets_its_whole_reply(server):
    """A client that reads slowly but steadily is not aborted: the whole 32 MB reply takes it several
    times the stall timeout at first, but it never pauses for that long (the limit is on the time
    between two writes, not on the reply)."""
    before = server.guard_stats.send_timeouts
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    s.settimeout(CLOSED_BY_S)
    s.connect((server.host, server.port))
    try:
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = bytearray()
        while chunk := s.recv(1 << 20):
            data += chunk
            if len(data) < (4 << 20):
                time.sleep(0.05)  # slow at first: many short stalls, each far below the 1 s limit
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"z\r\n0\r\n\r\n")  # the last chunk, then the end
        body = bytes(data).split(b"\r\n\r\n", 1)[1]
        assert body.count(b"z") == BIG_REPLY
    finally:
        s.close()
    assert server.guard_stats.send_timeouts == before


def test_oversized_head_is_refused(server):
    s = _connect(server)
    s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192)  # a head still growing past the cap
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except OSError:
        pass
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 400")


def test_slow_clients_do_not_block_others(server):
    """50 idle and stalled connections are open while a normal client is served, and all of them get closed."""
    hogs = []
    for i in range(50):
        s = _connect(server)
        if i % 2:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        hogs.append(s)
    with httpx.Client(base_url=server.url, timeout=CLOSED_BY_S) as client:
        assert client.get("/ping").json() == {"ok": True}
        assert client.post("/echo", content=b"y" * 100).json() == {"n": 100}
    assert all(_closed_by_server(s) for s in hogs)


def test_kept_alive_connection_serves_several_requests_then_idles_out(server):
    s = _connect(server)
    for _ in range(3):
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = b""
        while not reply.endswith(b'{"ok":true}'):
            chunk = s.recv(65536)
            assert chunk, "the server closed a kept-alive connection between requests"
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200")
    assert _closed_by_server(s)


@pytest.mark.parametrize("field,value", [("header_timeout_s", 0), ("body_idle_timeout_s", float("nan")),
                                         ("keep_alive_s", -1.0), ("send_stall_timeout_s", 0.0),
                                         ("max_header_bytes", 0), ("max_connections", 1.5)])
def test_limits_are_validated(field, value):
    with pytest.raises(ValueError, match=field):
        ConnectionLimits(**{field: value})


def test_limits_follow_server_settings():
    from mobigen.serving.settings import ServerSettings

    lim = ConnectionLimits.from_settings(ServerSettings(header_timeout_s=3.0, max_connections=7))
    assert (lim.header_timeout_s, lim.max_connections, lim.body_idle_timeout_s) == (3.0, 7, 10.0)
