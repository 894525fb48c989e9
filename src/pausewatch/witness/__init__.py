"""A transparency log witness: c2sp.org/tlog-witness over c2sp.org/tlog-cosignature.

The witness keeps the latest checkpoint it cosigned for each trusted log and cosigns a new one
only if it is signed by the log and provably extends the old one (RFC 6962 consistency proof),
recording it atomically first. It therefore never cosigns a smaller tree, nor a fork.

Pure core and storage::

    Witness(signer, logs, store).add_checkpoint(body, now) -> WitnessResponse
    parse_add_checkpoint(body) -> AddCheckpointRequest          raises RequestError
    SqlWitnessStore(engine), MemoryWitnessStore()               WitnessStore implementations

Configuration and service::

    load_witness(key_file, logs_file, store) -> Witness
    create_witness_app(witness, clock) -> FastAPI
    serve_witness(key_file, logs_file, db_url, host, port) -> None
"""

from pausewatch.witness._app import MAX_BODY_BYTES, create_witness_app, serve_witness
from pausewatch.witness._config import (
    load_signer,
    load_trusted_logs,
    load_witness,
    parse_trusted_logs,
)
from pausewatch.witness._core import (
    CONTENT_TYPE_SIZE,
    CONTENT_TYPE_TEXT,
    MAX_PROOF_LINES,
    AddCheckpointRequest,
    RequestError,
    Witness,
    WitnessError,
    WitnessResponse,
    WitnessState,
    WitnessStore,
    parse_add_checkpoint,
)
from pausewatch.witness._store import MemoryWitnessStore, SqlWitnessStore

__all__ = [
    "CONTENT_TYPE_SIZE",
    "CONTENT_TYPE_TEXT",
    "MAX_BODY_BYTES",
    "MAX_PROOF_LINES",
    "AddCheckpointRequest",
    "MemoryWitnessStore",
    "RequestError",
    "SqlWitnessStore",
    "Witness",
    "WitnessError",
    "WitnessResponse",
    "WitnessState",
    "WitnessStore",
    "create_witness_app",
    "load_signer",
    "load_trusted_logs",
    "load_witness",
    "parse_add_checkpoint",
    "parse_trusted_logs",
    "serve_witness",
]
