"""Hostile HTTP clients: slow bodies, huge uploads without a key, endless heads, key guessing, log injection.

Most tests talk raw HTTP over a socket to a real uvicorn (``live_server``), because what they check is what a
client sees before it has sent its body: an answer (401, 413, 408) while the server has read almost nothing.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from logging.config import DictConfigurator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.api.app import create_app
from service.api.middleware import GuardedHttpToolsProtocol
from service.core.logs import log_config
from service.core.settings import Settings
from service.store.database import make_engine
from tests.conftest import api_key, defaults_database, live_server

LIMIT = 1_000_000
POINT = {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [6.56, 53.0]}}
BOUNDARY = "grens7f3a"
FILE_PART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="groot.geojson"\r\n'
    "Content-Type: application/geo+json\r\n\r\n"
).encode()


@pytest.fixture(scope="module")
def hsettings(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with defaults_database(
        server_url,
        tmp_path_factory.mktemp("hdata"),
        "gebiedscheck_test_h",
        max_body_bytes=LIMIT,
        heavy_concurrency=1,
        heavy_wait_s=2.0,
        body_idle_timeout_s=1.0,
        body_timeout_s=4.0,
    ) as settings:
        yield settings


@pytest.fixture(scope="module")
def key(hsettings: Settings) -> str:
    return api_key(hsettings, "gis-team")


@pytest.fixture(scope="module")
def port(hsettings: Settings) -> Iterator[int]:
    with live_server(create_app(hsettings)) as base:
        yield int(urlsplit(base).port or 0)


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of one answer (socket.timeout when none comes in time)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


def closed_by_server(sock: socket.socket, timeout: float = 10.0) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def upload_head(*, key: str | None = None, length: int | None = None) -> bytes:
    """The head of a multipart upload to havenkwartier: a Content-Length, or chunked without one."""
    lines = [
        "POST /layers/havenkwartier/versions HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked",
    ]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def temp_holdings() -> tuple[set[str], int]:
    """Upload directories under the temporary directory, and how many files there this process holds open
    (a spooled upload is an unlinked temporary file: it fills the disk but has no name)."""
    tmp = tempfile.gettempdir()
    dirs = {n for n in os.listdir(tmp) if n.startswith("gebiedscheck-upload-")}
    held = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            held += os.readlink(f"/proc/self/fd/{fd}").startswith(tmp + "/")
        except OSError:
            continue
    return dirs, held


def last_audit(hsettings: Settings) -> dict[str, Any]:
    engine = make_engine(hsettings)
    with engine.connect() as c:
        row = c.execute(text("SELECT * FROM audit_log ORDER BY id DESC LIMIT 1")).mappings().one()
    engine.dispose()
    return dict(row)


def test_a_slow_body_holds_no_heavy_slot(port: int) -> None:
    """M1: one connection dribbling its /check body took the only heavy slot, and every other /check got 503.
    Now the body is read before the slot is taken; the dribbler is cut off at the total body time (4 s)."""
    body = json.dumps(POINT).encode()
    slow = connect(port)
    slow.sendall(
        b"POST /check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    slow.sendall(body[:5])
    stop = threading.Event()

    def dribble() -> None:
        for byte in body[5:-1]:  # never the last byte
            if stop.wait(0.4):
                return
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                return

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        r = httpx.post(f"http://127.0.0.1:{port}/check", json=POINT, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["in_municipality"] is True
        status, headers, answer = read_response(slow, timeout=15)
        assert status == 408 and answer["detail"] == "the request body took longer than 4 s to arrive (the limit)"
        assert headers["connection"] == "close" and closed_by_server(slow)
    finally:
        stop.set()
        slow.close()
        thread.join(5)


def test_a_body_that_pauses_too_long_gets_408(port: int) -> None:
    with connect(port) as s:
        s.sendall(b"POST /check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        s.sendall(b'{"type": ')
        started = time.monotonic()
        status, headers, answer = read_response(s, timeout=10)
        waited = time.monotonic() - started
    assert status == 408, answer
    assert answer["detail"] == "the request body paused for longer than 1 s (the limit between two parts)"
    assert headers["connection"] == "close"
    assert 0.8 < waited < 8


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(port: int) -> None:
    with connect(port) as s:
        s.sendall(b"POST /check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n")
        s.sendall(b"\r\n")
        status, headers, answer = read_response(s, timeout=10)
        assert status == 413 and answer["detail"] == f"the request body is larger than {LIMIT} bytes (the limit)"
        assert headers["connection"] == "close" and closed_by_server(s)


def test_an_upload_without_a_key_is_refused_before_its_body(port: int) -> None:
    """M2: FastAPI parsed (and spooled to disk) the whole multipart body before the key was checked."""
    before = temp_holdings()
    with connect(port) as s:
        s.sendall(upload_head(length=3_000_000_000))
        s.sendall(FILE_PART + b" " * 65_536)  # 64 KiB of the announced 3 GB
        status, headers, answer = read_response(s, timeout=10)
        assert status == 401 and "Authorization: Bearer" in answer["detail"]
        assert headers["connection"] == "close" and closed_by_server(s)
    dirs, held = temp_holdings()
    assert dirs == before[0] and held <= before[1]


def test_an_upload_declared_over_the_limit_is_413_before_its_body(port: int, key: str, hsettings: Settings) -> None:
    with connect(port) as s:
        s.sendall(upload_head(key=key, length=3_000_000_000))
        s.sendall(FILE_PART)
        status, headers, answer = read_response(s, timeout=10)
        assert status == 413 and answer["detail"] == f"the upload is larger than {LIMIT} bytes (the limit)"
        assert headers["connection"] == "close" and closed_by_server(s)
    row = last_audit(hsettings)
    assert (row["actor"], row["action"], row["result"]) == ("gis-team (#1)", "load_version", "failed")
    assert row["detail"]["reason"] == answer["detail"]


def test_a_chunked_upload_over_the_limit_is_cut_off(port: int, key: str, hsettings: Settings) -> None:
    """Without a Content-Length the limit holds as the body streams: 413 at 1 MB, the connection closed, and
    nothing left in the temporary directory."""
    before = temp_holdings()
    sent, answer_waiting = 0, False
    with connect(port, timeout=5) as s:
        s.sendall(upload_head(key=key) + chunk(FILE_PART))
        piece = chunk(b"x" * 65_536)
        while sent < 64_000_000 and not answer_waiting:
            try:
                s.sendall(piece)
            except OSError:  # the server stopped reading (and closed): the answer is waiting
                break
            sent += 65_536
            answer_waiting = bool(select.select([s], [], [], 0)[0])
        status, headers, answer = read_response(s, timeout=10)
        assert status == 413 and answer["detail"] == f"the request body is larger than {LIMIT} bytes (the limit)"
        assert headers["connection"] == "close" and closed_by_server(s)
    assert sent < 32_000_000  # refused near the limit, not after the whole body
    row = last_audit(hsettings)
    assert (row["action"], row["result"], row["detail"]["reason"]) == ("load_version", "failed", answer["detail"])
    dirs, held = temp_holdings()
    assert dirs == before[0] and held <= before[1]


def test_an_upload_with_a_key_still_loads(port: int, key: str) -> None:
    """The route parses its multipart body itself now: a good upload (dry run) answers as before."""
    ring = [[6.566, 52.999], [6.571, 52.999], [6.571, 53.001], [6.566, 53.001], [6.566, 52.999]]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    feature = {"type": "Feature", "properties": {"naam": "Havenkwartier"}, "geometry": geometry}
    body = json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    r = httpx.post(
        f"http://127.0.0.1:{port}/layers/havenkwartier/versions",
        files={"file": ("plan.geojson", body, "application/geo+json")},
        data={"dry_run": "true", "note": "proef"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    assert r.json()["current_version"] == 1 and r.json()["changed"] == ["havenkwartier"]
    bad = httpx.post(
        f"http://127.0.0.1:{port}/layers/havenkwartier/versions",
        files={"file": ("plan.geojson", body, "application/geo+json")},
        data={"dry_run": "misschien"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert bad.status_code == 422 and bad.json()["detail"].startswith("dry_run: ")


def _not_at_a_window_edge(needed_s: float = 20) -> None:
    """Refusals are counted per clock minute: start early enough in one that the test ends inside it."""
    into = time.time() % 60
    if into > 60 - needed_s:
        time.sleep(60.5 - into)


def test_wrong_keys_are_throttled_and_counted_in_one_row(hsettings: Settings, key: str) -> None:
    """L2: 3,000 wrong keys in 26 s met no throttle and left 3,000 audit rows."""
    _not_at_a_window_edge()
    with TestClient(create_app(hsettings), raise_server_exceptions=False) as client:
        answers = [
            client.post("/layers/havenkwartier/versions/1/activate", headers={"Authorization": f"Bearer gbc_fout{i}"})
            for i in range(15)
        ]
        assert [r.status_code for r in answers] == [401] * 10 + [429] * 5
        assert answers[9].json()["detail"] == "the API key is not known"
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
        assert answers[-1].json()["detail"].startswith("too many failed authentications: at most 10 a minute")
        # While throttled, not even a good key is looked up.
        good = client.post("/layers/havenkwartier/versions/1/activate", headers={"Authorization": f"Bearer {key}"})
        assert good.status_code == 429
    engine = make_engine(hsettings)
    with engine.connect() as c:
        rows = c.execute(text("SELECT * FROM audit_log WHERE client = 'testclient'")).mappings().all()
    engine.dispose()
    assert len(rows) == 1
    row = rows[0]
    expected = ["(geen geldige sleutel)", "activate", "havenkwartier/1", "refused"]
    assert [row["actor"], row["action"], row["target"], row["result"]] == expected
    assert row["attempts"] == 16 and row["bucket"].second == 0
    assert row["detail"]["reasons"] == {"the API key is not known": 10, answers[-1].json()["detail"]: 6}


def test_control_characters_are_escaped_in_the_log(hsettings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """L3: a %0a in a path wrote a forged line into the access log."""
    with TestClient(create_app(hsettings), raise_server_exceptions=False) as client:
        with caplog.at_level(logging.INFO, logger="gebiedscheck.access"):
            assert client.get("/x%0aFORGED%20LINE").status_code == 404
    access = [rec.getMessage() for rec in caplog.records if rec.name == "gebiedscheck.access"]
    assert len(access) == 1 and access[0].startswith("GET /x\\nFORGED LINE 404 ")
    # Every record, through the formatter of the service's log configuration.
    config = log_config()
    formatter = DictConfigurator(config).configure_formatter(config["formatters"]["plain"])  # type: ignore[index]
    record = logging.LogRecord("gebiedscheck", logging.INFO, __file__, 1, "%s: %s", ("/a\r\nb", "\x1b[2J\x85\t"), None)
    record.request_id = "abc"
    line = formatter.format(record)
    assert "\n" not in line and line.endswith("[abc] gebiedscheck: /a\\r\\nb: \\x1b[2J\\x85\\t")
    normal = logging.LogRecord("g", logging.INFO, __file__, 1, "zones at 53.0, 6.569: Havenkwartier — é", None, None)
    normal.request_id = "-"
    assert formatter.format(normal).endswith("g: zones at 53.0, 6.569: Havenkwartier — é")
    failed = logging.LogRecord("g", logging.ERROR, __file__, 1, "x\ny", None, (ValueError, ValueError("a\nb"), None))
    failed.request_id = "-"
    assert formatter.format(failed).endswith("x\\ny\nValueError: a\nb")  # a traceback keeps its lines


class QuickHead(GuardedHttpToolsProtocol):
    head_timeout_s = 1.0
    max_head_bytes = 4096


@contextmanager
def guarded_server() -> Iterator[int]:
    """A tiny app behind uvicorn with the guarded protocol (the one ``serve`` uses), on a free port."""
    import uvicorn

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=QuickHead, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_request_head_that_never_ends_is_cut_off() -> None:
    """uvicorn has no timeout for an unfinished request head (slowloris); the protocol of ``serve`` has."""
    with guarded_server() as port:
        with connect(port) as s:  # a header line every 0.3 s, for ever
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            s.settimeout(0.3)
            answer = b""
            while time.monotonic() - started < 8 and not answer:
                try:
                    s.sendall(b"X-Langzaam: ja\r\n")
                    answer = s.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
            assert answer.startswith(b"HTTP/1.1 408 ") and b"within 1 s" in answer
            assert 0.8 < time.monotonic() - started < 5
        with connect(port) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Groot: " + b"a" * 5000)
            status, _headers, answer = read_response(s, timeout=5)
            assert status == 431 and answer["detail"] == "the request head is larger than 4096 bytes (the limit)"
        with connect(port) as s:  # connected, and nothing said
            started = time.monotonic()
            assert closed_by_server(s, timeout=5) and time.monotonic() - started < 4
        with connect(port) as s:  # normal requests, on a kept-alive connection
            for _ in range(2):
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                s.settimeout(5)
                assert s.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_serve_passes_the_connection_limits_to_uvicorn(hsettings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from service.cli.main import app
    from service.core.settings import get_settings

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("DATABASE_URL", str(hsettings.database_url))
    monkeypatch.setenv("GEBIEDSCHECK_KEEPALIVE_TIMEOUT_S", "7")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--port", "18999"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    (kwargs,) = calls
    assert kwargs["timeout_keep_alive"] == 7 and kwargs["h11_max_incomplete_event_size"] == 16_384
    assert kwargs["timeout_graceful_shutdown"] == 20
    assert kwargs["http"] == "service.api.middleware:GuardedHttpToolsProtocol"
