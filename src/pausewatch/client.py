"""A Python client (httpx) for the pausewatch API: sign and submit statements, read the log.

It returns what the server says; it proves nothing by itself. Verify what matters with
:mod:`pausewatch.ledger` against a checkpoint signed by a log key you trust (see
:mod:`pausewatch.audit`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from pausewatch.errors import Error, NotFoundError
from pausewatch.fields import format_time
from pausewatch.statements import Body, KeyPair, Statement, canonical, sign_statement

if TYPE_CHECKING:
    from pausewatch.evals import EvalResult
    from pausewatch.governance import Choice
    from pausewatch.governance._statements import ProposalKind
    from pausewatch.registry import RunDeclaration, RunOutcome


class ClientError(Error):
    """The server refused a request or could not be reached."""

    def __init__(
        self, message: str, status: int | None = None, problem: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.problem = problem or {}


class PausewatchClient:
    """Talks to one pausewatch service."""

    def __init__(
        self, base_url: str, *, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> PausewatchClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach {self.base_url}: {exc}") from exc
        if resp.status_code >= 400:
            problem: dict[str, Any] = {}
            with contextlib.suppress(ValueError):
                problem = resp.json()
            detail = problem.get("detail") or resp.text.strip() or resp.reason_phrase
            raise ClientError(f"{resp.status_code} {detail}", resp.status_code, problem)
        return resp

    def submit(self, statement: Statement | dict[str, Any]) -> dict[str, Any]:
        """Submit a signed statement; returns the accepted entry (index, leaf hash, time)."""
        payload = statement.to_json() if isinstance(statement, Statement) else statement
        result: dict[str, Any] = self._request("POST", "/v1/statements", json=payload).json()
        return result

    def sign_and_submit(
        self, kind: str, body: Body | dict[str, Any], key: KeyPair
    ) -> dict[str, Any]:
        """Sign ``body`` as ``kind`` with ``key`` and submit it."""
        return self.submit(sign_statement(kind, body, key))

    def send_telemetry(self, data: bytes, operator_id: str, key: KeyPair) -> dict[str, Any]:
        """Upload a JSONL batch of chip-signed records as ``operator_id``, signing its
        ``telemetry.submission/v1`` (digest and line count) with the operator's ``key``.
        Returns the batch's receipt (accepted, duplicates, rejected with reasons, gaps)."""
        lines = data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
        submission = sign_statement(
            "telemetry.submission/v1",
            {
                "operator_id": operator_id,
                "batch_digest": hashlib.sha256(data).hexdigest(),
                "records": lines,
            },
            key,
        )
        header = base64.b64encode(canonical(submission.to_json())).decode()
        resp = self._request(
            "POST",
            "/v1/telemetry/batches",
            content=data,
            headers={
                "Pausewatch-Submission": header,
                "Content-Type": "application/x-ndjson",
            },
        )
        result: dict[str, Any] = resp.json()
        return result

    # -- operators, evaluators and delegates: sign and submit ----------------------------------

    def _sign_and_submit(
        self, kind: str, body: Body | Mapping[str, Any], key: KeyPair
    ) -> dict[str, Any]:
        raw = body if isinstance(body, Body) else dict(body)
        return self.sign_and_submit(kind, raw, key)

    def declare_run(self, body: RunDeclaration | Mapping[str, Any], key: KeyPair) -> dict[str, Any]:
        """Declare a run (``run.declaration/v1``) with the operator's ``key``; returns the
        accepted entry."""
        return self._sign_and_submit("run.declaration/v1", body, key)

    def start_run(self, run_id: str, key: KeyPair, *, at: datetime | None = None) -> dict[str, Any]:
        """State that a declared run started (``run.start/v1``), at ``at`` (default now)."""
        return self._sign_and_submit("run.start/v1", {"run_id": run_id, "at": _time(at)}, key)

    def end_run(
        self,
        run_id: str,
        key: KeyPair,
        *,
        outcome: RunOutcome | str = "finished",
        at: datetime | None = None,
        final_flop: float | None = None,
    ) -> dict[str, Any]:
        """State that a run ended (``run.end/v1``): ``finished`` or ``halted`` once started,
        ``abandoned`` if it never started; at ``at`` (default now), with the operator's own
        count of its compute if given."""
        body: dict[str, Any] = {"run_id": run_id, "at": _time(at), "outcome": str(outcome)}
        if final_flop is not None:
            body["final_flop"] = final_flop
        return self._sign_and_submit("run.end/v1", body, key)

    def acknowledge_order(
        self, proposal_id: str, key: KeyPair, *, note: str = ""
    ) -> dict[str, Any]:
        """Acknowledge the halt order decided by ``proposal_id`` (``order.ack/v1``), signed by
        the operator answerable for its subject."""
        body: dict[str, Any] = {"proposal_id": proposal_id}
        if note:
            body["note"] = note
        return self._sign_and_submit("order.ack/v1", body, key)

    def submit_eval_result(
        self, result: EvalResult | Mapping[str, Any], key: KeyPair
    ) -> dict[str, Any]:
        """Put an evaluation's evidence on the log (``eval.result/v1``), signed by the
        evaluator's ``key`` (see :func:`pausewatch.evals.read_evidence`)."""
        return self._sign_and_submit("eval.result/v1", result, key)

    def propose(
        self,
        proposal_id: str,
        kind: ProposalKind | str,
        key: KeyPair,
        *,
        subject: str | None = None,
        days: float | None = None,
        deadline: datetime | None = None,
        policy_digest: str | None = None,
        text: str = "",
    ) -> dict[str, Any]:
        """File a proposal (``gov.proposal/v1``) with a party's or a delegate's ``key``."""
        body: dict[str, Any] = {"proposal_id": proposal_id, "kind": str(kind)}
        optional = {
            "subject": subject,
            "days": days,
            "deadline": None if deadline is None else _time(deadline),
            "policy_digest": policy_digest,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if text:
            body["text"] = text
        return self._sign_and_submit("gov.proposal/v1", body, key)

    def vote(
        self,
        proposal_id: str,
        choice: Choice | str,
        key: KeyPair,
        *,
        cast_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Vote on an open proposal (``gov.vote/v1``) with a party's or a delegate's
        ``key``. The ballot carries ``cast_at`` (default now), so that a vote changed back
        to an earlier choice is a new ballot rather than a repeat of the earlier one."""
        body = {"proposal_id": proposal_id, "choice": str(choice), "cast_at": _time(cast_at)}
        return self._sign_and_submit("gov.vote/v1", body, key)

    # -- reading -------------------------------------------------------------------------------

    def view_page(self, view: str, *, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        """One page of a registry or telemetry view: ``rows``, ``total``, ``next``."""
        result: dict[str, Any] = self._request(
            "GET", f"/v1/views/{view}", params={"offset": offset, "limit": limit}
        ).json()
        return result

    def views(self, view: str, *, offset: int = 0, limit: int = 100) -> Iterator[dict[str, Any]]:
        """Every row of a view from ``offset``, fetched ``limit`` rows a page."""
        nxt: int | None = offset
        while nxt is not None:
            page = self.view_page(view, offset=nxt, limit=limit)
            yield from page["rows"]
            nxt = page["next"]

    def metrics(self) -> str:
        """The service's metrics, Prometheus text format."""
        return self._request("GET", "/metrics").text

    def run(self, run_id: str) -> dict[str, Any]:
        """A declared run's report: declaration, measured compute, findings."""
        result: dict[str, Any] = self._request("GET", f"/v1/runs/{run_id}").json()
        return result

    def transcript(self, run_id: str) -> dict[str, Any]:
        """A declared run's transcript: its commitment, checkpoint commitments (every page) and
        audits."""
        path = f"/v1/runs/{run_id}/transcript"
        result: dict[str, Any] = self._request("GET", path, params={"limit": 1000}).json()
        items = result["checkpoints"]["items"]
        nxt = result["checkpoints"].get("next")
        while nxt is not None:
            page = self._request("GET", path, params={"offset": nxt, "limit": 1000}).json()
            items += page["checkpoints"]["items"]
            nxt = page["checkpoints"].get("next")
        result["checkpoints"]["next"] = None
        return result

    def chip_accounts(self) -> dict[str, Any]:
        """Chips unaccounted for per operator and party, exports, inspections (ADR 0026)."""
        result: dict[str, Any] = self._request("GET", "/v1/detect/chips").json()
        return result

    def balances(self, facility: str | None = None) -> dict[str, Any]:
        """Daily energy and compute balances per facility with their tests (ADR 0029)."""
        params = {"facility": facility} if facility is not None else None
        result: dict[str, Any] = self._request("GET", "/v1/detect/balances", params=params).json()
        return result

    def findings(self, *, limit: int = 1000) -> dict[str, Any]:
        """The adopted policy evaluated now (first ``limit`` findings)."""
        result: dict[str, Any] = self._request(
            "GET", "/v1/findings", params={"limit": limit}
        ).json()
        return result

    def pause(self) -> dict[str, Any]:
        """The pause's status now."""
        result: dict[str, Any] = self._request("GET", "/v1/pause").json()
        return result

    def proposal(self, proposal_id: str) -> dict[str, Any]:
        """One proposal with its ballots and outcome."""
        result: dict[str, Any] = self._request("GET", f"/v1/proposals/{proposal_id}").json()
        return result

    def proposals(self) -> list[dict[str, Any]]:
        """Every proposal (all pages)."""
        rows: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = self._request(
                "GET", "/v1/proposals", params={"offset": offset, "limit": 1000}
            ).json()
            rows += page["rows"]
            offset = page["next"]
        return rows

    def info(self) -> dict[str, Any]:
        """The log's origin, verifier key, size, root and witnesses."""
        result: dict[str, Any] = self._request("GET", "/v1/log").json()
        return result

    def checkpoint(self, *, witnessed: bool = False) -> str:
        """The latest checkpoint note."""
        params = {"witnessed": "true"} if witnessed else None
        return self._request("GET", "/checkpoint", params=params).text

    def checkpoint_note(self, size: int) -> str:
        """The checkpoint note of ``size``."""
        return self._request("GET", f"/v1/checkpoints/{size}").text

    def checkpoint_sizes(self) -> list[int]:
        """Every signed checkpoint size, oldest first."""
        return list(self.iter_checkpoint_sizes())

    def iter_checkpoint_sizes(self) -> Iterator[int]:
        """Every signed checkpoint size, oldest first, a page at a time (a log signs one for
        every append: there may be as many as entries)."""
        start: int | None = 0
        while start is not None:
            page = self._request(
                "GET", "/v1/checkpoints", params={"start": start, "limit": 10_000}
            ).json()
            yield from (int(size) for size in page["sizes"])
            start = page["next"]

    def entry(self, index: int) -> dict[str, Any]:
        """One entry (decoded and as base64 bytes)."""
        result: dict[str, Any] = self._request("GET", f"/v1/entries/{index}").json()
        return result

    def entries(self, start: int = 0, *, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every entry from ``start``, page by page."""
        nxt: int | None = start
        while nxt is not None:
            page = self._request(
                "GET", "/v1/entries", params={"start": nxt, "limit": page_size}
            ).json()
            yield from page["entries"]
            nxt = page["next"]

    def batch_records_page(
        self, index: int, *, offset: int = 0, limit: int = 1000
    ) -> dict[str, Any]:
        """One page of the stored records of the telemetry batch at log ``index``:
        ``records``, ``total``, ``next``."""
        result: dict[str, Any] = self._request(
            "GET",
            f"/v1/telemetry/batches/{index}/records",
            params={"offset": offset, "limit": limit},
        ).json()
        return result

    def batch_records(
        self, index: int, *, offset: int = 0, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every stored record of the telemetry batch at log ``index`` (``position``, ``hash``,
        ``chip_id``, ``seq``, ``line``), in the order its root commits to, page by page."""
        nxt: int | None = offset
        while nxt is not None:
            page = self.batch_records_page(index, offset=nxt, limit=page_size)
            yield from page["records"]
            nxt = page["next"]

    def inclusion_proof(
        self, *, index: int | None = None, leaf_hash: str | None = None, size: int | None = None
    ) -> dict[str, Any]:
        """An inclusion proof by index or hex leaf hash."""
        params: dict[str, Any] = {}
        if index is not None:
            params["index"] = index
        if leaf_hash is not None:
            params["leaf_hash"] = leaf_hash
        if size is not None:
            params["size"] = size
        result: dict[str, Any] = self._request("GET", "/v1/proofs/inclusion", params=params).json()
        return result

    def consistency_proof(self, old: int, new: int | None = None) -> dict[str, Any]:
        """A consistency proof between two sizes."""
        params: dict[str, Any] = {"old": old}
        if new is not None:
            params["new"] = new
        result: dict[str, Any] = self._request(
            "GET", "/v1/proofs/consistency", params=params
        ).json()
        return result


class RemoteTranscriptLog:
    """The log the transcript use cases (:mod:`pausewatch.service`'s ``TranscriptLog``) need,
    over the API: statements submitted, the run's transcript read, and the root of a tree
    computed from an entry's leaf hash and its inclusion proof (RFC 9162 §2.1.3.2), so that
    the beacon is no root the server merely states."""

    def __init__(self, client: PausewatchClient) -> None:
        self.client = client

    def submit(self, statement: Statement) -> int:
        """Submit; the accepted entry's index."""
        return int(self.client.submit(statement)["index"])

    def transcript(self, run_id: str) -> dict[str, Any]:
        """``GET /v1/runs/{run_id}/transcript``."""
        return self.client.transcript(run_id)

    def root_after(self, index: int) -> bytes:
        """The root of the tree of ``index + 1`` entries, from the entry's leaf hash and its
        inclusion proof in that tree."""
        from pausewatch.ledger import root_from_inclusion_proof

        proof = self.client.inclusion_proof(index=index, size=index + 1)
        return root_from_inclusion_proof(
            bytes.fromhex(proof["leaf_hash"]),
            index,
            index + 1,
            [bytes.fromhex(h) for h in proof["proof"]],
        )

    def inspector_of(self, signer: str) -> str:
        """The inspector registered with ``signer`` (from the ``inspectors`` view)."""
        for row in self.client.views("inspectors", limit=1000):
            if row.get("key") == signer:
                return str(row["inspector_id"])
        raise ClientError(
            f"the key {signer} is no registered inspector's: an audit's statements are signed "
            "by an inspector (inspector.register/v1)"
        )


def _time(at: datetime | None) -> str:
    """``at`` (default now) as the RFC 3339 UTC text statements carry."""
    t = datetime.now(UTC) if at is None else at
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware time, got {t.isoformat()}")
    return format_time(t)


class TileFetcher:
    """Fetches a tiled log's resources (C2SP tlog-tiles) under a URL prefix over HTTP: a
    pausewatch service, or any static web server or object store holding the files written by
    ``pausewatch log tiles``. Call it with a path (``checkpoint``, ``tile/0/000``); a 404 raises
    :class:`~pausewatch.errors.NotFoundError`, any other answer but 200 :class:`ClientError`.
    Redirects are followed, :data:`MAX_REDIRECTS` at most (an object store or CDN may
    redirect). Give it to :class:`pausewatch.ledger.TileClient`.

    The server is not trusted (what it serves is checked against the signed checkpoint), so
    what it may cost is bounded too: a fetch is refused once its body, unpacked, passes what
    its resource can hold (:data:`MAX_CHECKPOINT_BYTES`; a hash tile 256 hashes; an entry
    bundle 256 entries of at most 65,535 bytes; a ``pausewatch-entries32`` bundle
    ``max_bundle_bytes``), and once it has taken ``deadline`` seconds in all (``timeout``
    bounds each read, which a server sending a byte at a time never trips). It asks for gzip
    or nothing and unpacks gzip itself, never past the resource's limit however much one read
    holds; a body in another coding is refused."""

    MAX_REDIRECTS = 5
    MAX_CHECKPOINT_BYTES = 1 << 20
    """A checkpoint note: its lines and signatures (c2sp.org/tlog-checkpoint), generously."""

    def __init__(
        self,
        prefix: str,
        *,
        timeout: float = 30.0,
        deadline: float = 600.0,
        max_bundle_bytes: int = 1 << 30,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.deadline = deadline
        self.max_bundle_bytes = max_bundle_bytes
        self._http = httpx.Client(
            base_url=self.prefix,
            timeout=timeout,
            transport=transport,
            headers={"Accept-Encoding": "gzip, identity"},
            follow_redirects=True,
            max_redirects=self.MAX_REDIRECTS,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> TileFetcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def limit(self, path: str) -> int:
        """The most bytes the resource at ``path`` can hold, unpacked."""
        from pausewatch.ledger import (
            ENTRIES,
            HASH_SIZE,
            MAX_BUNDLE_ENTRY,
            WIDE_ENTRIES,
            parse_tile_path,
        )

        try:
            tile = parse_tile_path(path)
        except Error:
            return self.MAX_CHECKPOINT_BYTES
        if tile.level == WIDE_ENTRIES:
            return self.max_bundle_bytes
        if tile.level == ENTRIES:
            return tile.width * (2 + MAX_BUNDLE_ENTRY)
        return tile.width * HASH_SIZE

    def __call__(self, path: str) -> bytes:
        where = f"{self.prefix}/{path}"
        limit = self.limit(path)
        deadline = time.monotonic() + self.deadline
        try:
            with self._http.stream("GET", "/" + path) as resp:
                if resp.status_code == 404:
                    raise NotFoundError(f"{where}: not found")
                if resp.status_code != 200:
                    raise ClientError(f"{where}: {resp.status_code}", resp.status_code)
                chunks: Iterable[bytes]
                if resp.is_stream_consumed:
                    # Only an in-process transport answers with a body httpx has already read
                    # (and unpacked with its own decoders); no server over a network does.
                    chunks = [resp.content]
                else:
                    # The deadline is checked at each read off the wire, whatever it unpacks to
                    # (a gzip header's name field, an empty stored block: nothing at all).
                    raw = _received(where, resp.iter_raw(), deadline, self.deadline)
                    coding = resp.headers.get_list("content-encoding", split_commas=True)
                    if _gzipped(where, coding):
                        chunks = _gunzipped(where, _bounded(where, raw, _packed(limit)), limit)
                    else:
                        chunks = raw
                body = bytearray()
                for chunk in chunks:
                    body += chunk
                    if len(body) > limit:
                        raise ClientError(
                            f"{where}: the server sent more than the {limit:,} bytes this "
                            "resource can hold"
                        )
        except httpx.TooManyRedirects as exc:
            raise ClientError(f"{where}: too many redirects ({exc})") from exc
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach {self.prefix}: {exc}") from exc
        return bytes(body)


def _gzipped(where: str, encodings: list[str]) -> bool:
    """Whether a body in the ``Content-Encoding`` codings ``encodings`` is gzip; a tile fetch
    asks for gzip or nothing, so any other coding (or gzip twice) is refused."""
    codings = [c.strip().lower() for c in encodings if c.strip().lower() not in ("", "identity")]
    if not codings:
        return False
    if codings in (["gzip"], ["x-gzip"]):
        return True
    raise ClientError(
        f"{where}: the body is in a coding it was not asked for ({', '.join(codings)}); "
        "expected gzip or none"
    )


def _packed(limit: int) -> int:
    """The most bytes a gzip body of at most ``limit`` bytes unpacked may take on the wire:
    deflate's stored blocks (5 bytes a 65,535) plus its header and trailer, generously. A
    gzip header's name and comment fields unpack to nothing, so only this bounds them."""
    return limit + limit // 64 + 4096


def _received(
    where: str, chunks: Iterable[bytes], deadline: float, seconds: float
) -> Iterator[bytes]:
    """``chunks`` as they come, refused once the clock passes ``deadline`` (``seconds`` after
    the fetch began)."""
    for chunk in chunks:
        if time.monotonic() > deadline:
            raise ClientError(f"{where}: not received within {seconds:g} s")
        yield chunk


def _bounded(where: str, chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    """``chunks`` as they come, refused once they pass ``limit`` bytes in all."""
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise ClientError(
                f"{where}: the server sent more than the {limit:,} bytes this resource can "
                "take on the wire"
            )
        yield chunk


_MAX_GZIP_MEMBERS = 16
"""Gzip members one body may hold (RFC 1952 allows several; a server writes one). Each member's
end copies what is left of its read: thousands of empty members in one read would cost time
in the square of the read's size, for nothing unpacked."""


def _gunzipped(where: str, chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    """The gzip members (RFC 1952) in ``chunks`` unpacked, never more than ``limit + 1``
    bytes in all: what passes ``limit`` is for the caller to refuse, and nothing past it is
    unpacked, however much one chunk would unpack to (httpx's own decoder unpacks a whole
    chunk at once: a 65 kB chunk can hold 64 MiB). At most :data:`_MAX_GZIP_MEMBERS`."""
    unpack = zlib.decompressobj(16 + zlib.MAX_WBITS)
    inside = False
    members = 0
    out = 0
    try:
        for chunk in chunks:
            data = chunk
            while data:
                if not inside:
                    members += 1
                    if members > _MAX_GZIP_MEMBERS:
                        raise ClientError(
                            f"{where}: the body holds more than {_MAX_GZIP_MEMBERS} gzip members"
                        )
                inside = True
                piece = unpack.decompress(data, limit + 1 - out)
                if piece:
                    out += len(piece)
                    yield piece
                    if out > limit:
                        return
                if unpack.eof:
                    data = unpack.unused_data
                    unpack = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    inside = False
                else:
                    data = unpack.unconsumed_tail
    except zlib.error as exc:
        raise ClientError(f"{where}: the body is not the gzip it says it is ({exc})") from exc
    if inside:
        raise ClientError(f"{where}: the body ends inside its gzip stream")
