"""The demo world's three witnesses: the real tlog-witness state machine, answering in process.

Each is a :class:`~pausewatch.witness.Witness` (c2sp.org/tlog-witness: it checks the log's
signature and the consistency proof before it cosigns) with a key derived from the demo's seed.
The service's distributor reaches them through an httpx transport rather than the network, so
that the demo needs no extra servers and no port; everything past the transport is what
``pausewatch witness serve`` runs. Their store is in memory: after a restart a witness answers
the first checkpoint with 409 and size 0, and the distributor sends it the log from the start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from pausewatch.demo._world import WITNESSES, witness_signer
from pausewatch.ledger import Verifier
from pausewatch.witness import MemoryWitnessStore, Witness


class DemoWitnesses:
    """The demo's witnesses, keyed by the host name of their roster URL."""

    def __init__(self, seed: int, clock: Callable[[], datetime]) -> None:
        self.signers = {name: witness_signer(seed, name) for name in WITNESSES}
        self.clock = clock
        self._witnesses: dict[str, Witness] = {}

    def roster(self) -> str:
        """The witness roster (``<url> <verifier key>`` a line) the service reads."""
        return "".join(
            f"http://{_host(name)} {signer.verifier().to_string()}\n"
            for name, signer in self.signers.items()
        )

    def trust(self, log_key: Verifier) -> None:
        """Let every witness cosign the log whose key is ``log_key`` (its origin is the name)."""
        self._witnesses = {
            _host(name): Witness(signer, {log_key.name: [log_key]}, MemoryWitnessStore())
            for name, signer in self.signers.items()
        }

    def transport(self) -> httpx.BaseTransport:
        """The transport the service's distributor posts ``add-checkpoint`` requests through."""
        return httpx.MockTransport(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        witness = self._witnesses.get(request.url.host)
        if witness is None or request.url.path != "/add-checkpoint":
            return httpx.Response(404, text="no such witness")
        answer = witness.add_checkpoint(request.content, self.clock())
        return httpx.Response(
            answer.status, headers={"content-type": answer.content_type}, text=answer.body
        )


def _host(name: str) -> str:
    return f"{name}.demo.invalid"


__all__ = ["DemoWitnesses"]
