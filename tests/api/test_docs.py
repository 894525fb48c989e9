"""``/docs`` is served from the package (it works offline and loads nothing from elsewhere), and
every response of the JSON API carries security headers."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.statements import sign_statement

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def service(tmp_path: Path) -> LogService:
    return LogService(
        Settings(data_dir=tmp_path, batch_latency_ms=1, clerk_interval_s=0, max_body_bytes=4096)
    )


@pytest.fixture
def client(service: LogService) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as c:
        yield c


def references(html: str) -> list[str]:
    """Every URL the page names in a ``src`` or ``href``."""
    return re.findall(r'(?:src|href)="([^"]*)"', html)


def test_the_docs_page_names_no_url_outside_the_service(client: TestClient) -> None:
    """The page's HTML names no http(s) URL at all: its scripts and styles are paths on this
    service, and its policy allows scripts from this origin only (no inline script)."""
    resp = client.get("/docs")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert not re.search(r"https?://|//[a-z0-9]", html, re.IGNORECASE), html
    refs = references(html)
    assert len(refs) == 4
    assert all(ref.startswith("/docs/static/") or ref == "data:," for ref in refs)
    csp = resp.headers["content-security-policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert script_src.split()[1:] == ["'self'"]
    assert "frame-ancestors 'none'" in csp
    assert "<script>" not in html  # every script is a file: none inline


def test_the_docs_assets_load_from_the_package(client: TestClient) -> None:
    """Each file the page names is served, with its type, by the service itself."""
    html = client.get("/docs").text
    kinds = {".js": "text/javascript", ".css": "text/css"}
    for ref in references(html):
        if ref == "data:,":  # the icon: none, and no request for one
            continue
        resp = client.get(ref)
        assert resp.status_code == 200, ref
        path = ref.split("?")[0]
        assert resp.headers["content-type"].startswith(kinds[path[path.rfind(".") :]])
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert len(resp.content) > 100
    bundle = client.get(next(r for r in references(html) if "bundle" in r)).text
    assert "SwaggerUIBundle" in bundle
    assert client.get("/docs/static/nothing.js").status_code == 404


def test_no_page_loads_from_a_cdn(client: TestClient) -> None:
    """FastAPI's ReDoc page (a CDN script) is not served."""
    assert client.get("/redoc").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/log"),
        ("GET", "/healthz"),
        ("GET", "/openapi.json"),
        ("GET", "/v1/entries/99"),  # a 404 problem
        ("POST", "/v1/statements"),  # a 413 problem from the body limit
        ("GET", "/checkpoint"),  # text
    ],
)
def test_json_api_answers_carry_security_headers(
    client: TestClient, method: str, path: str
) -> None:
    """Every answer of the API, problems included, says nosniff, no referrer, no framing, a
    policy that loads nothing, and no caching unless the route says otherwise."""
    statement = sign_statement(
        "notice/v1", {"title": "one"}, client.app.state.service.secretariat_key
    )  # type: ignore[attr-defined]
    client.post("/v1/statements", json=statement.to_json())
    resp = client.request(method, path, content=b"x" * 5000 if method == "POST" else None)
    headers = resp.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "cache-control" in headers


def test_the_dashboard_keeps_its_own_policy(client: TestClient) -> None:
    """Pages that set their own Content-Security-Policy (the dashboard's) keep it."""
    resp = client.get("/ui/")
    assert resp.status_code == 200
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert resp.headers["x-frame-options"] == "DENY"


@pytest.mark.slow
def test_the_docs_page_renders_offline_in_a_browser(service: LogService) -> None:
    """In Chromium, /docs renders the API's operations, with no console error (a policy
    violation would be one) and no request to another origin."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: run scripts/install-system-deps.sh as root"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    origin = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            try:
                page = browser.new_page()
                errors: list[str] = []
                elsewhere: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on(
                    "request",
                    lambda r: None if r.url.startswith(origin) else elsewhere.append(r.url),
                )
                page.goto(origin + "/docs")
                page.wait_for_selector(".opblock", timeout=20_000)
                assert page.locator(".opblock").count() > 10
                assert errors == []
                assert elsewhere == []
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(15)


def test_every_operation_has_an_id_of_its_own(client: TestClient) -> None:
    """Client generators key operations by their ``operationId``: no two operations of the
    OpenAPI document share one (a route answering GET and HEAD gave both the GET's id)."""
    schema = client.get("/openapi.json").json()
    ids = [
        (op["operationId"], f"{method.upper()} {path}")
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    ]
    seen: dict[str, str] = {}
    shared = []
    for op_id, where in ids:
        if op_id in seen:
            shared.append(f"{op_id}: {seen[op_id]} and {where}")
        seen.setdefault(op_id, where)
    assert shared == []
    assert any(where.startswith("HEAD /tile/") for _, where in ids)
