"""Read everything a service serves, and say which answers were server errors.

Used by the tests that check that no statement the service accepted can make a read fail: every
view, the findings, the pause, every proposal, every run report and every dashboard page.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi.testclient import TestClient

from pausewatch.registry import VIEWS
from pausewatch.statements import KeyPair, canonical, signing_input


def sign_unchecked(kind: str, body: dict[str, Any], key: KeyPair) -> dict[str, Any]:
    """An envelope over ``body`` signed without validating it first (what any client that does
    not use our models may send)."""
    sig = key.sign(signing_input(kind, canonical(body)))
    return {
        "kind": kind,
        "body": body,
        "signer": key.signer_id,
        "sig": base64.b64encode(sig).decode(),
    }


def read_everything(client: TestClient) -> list[str]:
    """GET every read the API and the dashboard offer on the current state; return the
    ``path: status`` of each answer that was a server error (5xx)."""
    paths = [
        "/v1/log",
        "/v1/pause",
        "/v1/findings",
        "/v1/proposals",
        "/v1/entries",
        "/v1/checkpoints",
        "/checkpoint",
        "/tile/0/000",
        "/tile/1/000.p/1",
        "/tile/entries/000",
        "/metrics",
        "/ui/",
        "/ui/runs",
        "/ui/facilities",
        "/ui/governance",
        "/ui/evaluations",
        "/ui/detection",
        "/ui/detection/non-parties",
        "/ui/deterrence",
        "/ui/log",
        "/v1/detect/chips",
        "/v1/detect/evaluation",
        "/v1/deterrence",
    ]
    paths += [f"/v1/views/{view}?limit=1000" for view in VIEWS]
    failures: list[str] = []
    runs = client.get("/v1/views/runs", params={"limit": 1000})
    if runs.status_code >= 500:
        failures.append(f"/v1/views/runs: {runs.status_code}")
    else:
        for row in runs.json()["rows"]:
            paths += [f"/v1/runs/{row['run_id']}", f"/ui/runs/{row['run_id']}"]
    proposals = client.get("/v1/views/proposals", params={"limit": 1000})
    if proposals.status_code < 500:
        for row in proposals.json()["rows"]:
            pid = row["proposal_id"]
            paths += [f"/v1/proposals/{pid}", f"/ui/governance/{pid}"]
    size = client.get("/v1/log").json()["size"]
    if size:
        paths += [f"/v1/entries/{size - 1}", f"/ui/log/{size - 1}"]
    for path in paths:
        status = client.get(path).status_code
        if status >= 500:
            failures.append(f"{path}: {status}")
    return failures
