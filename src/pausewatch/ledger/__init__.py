"""The transparency log: RFC 9162 Merkle trees, C2SP checkpoints, notes and cosignatures.

Pure functions for outside checkers (all over raw bytes)::

    leaf_hash(data) -> bytes
    root(leaves) -> bytes
    inclusion_proof(leaves, index) -> list[bytes]
    consistency_proof(leaves, old_size) -> list[bytes]
    verify_inclusion(leaf, index, size, proof, root) -> None       raises VerificationError
    verify_consistency(old_size, new_size, proof, old_root, new_root) -> None
    sign_note(text, signer_key_string) -> str                      PRIVATE+KEY+name+hash+base64
    open_note(note, verifier_key_strings) -> str                   name+hash+base64

and the machinery of the persistent log (:class:`PersistentLog`, :class:`Sequencer`).
"""

from pausewatch.errors import NoteError, ProofError, VerificationError
from pausewatch.ledger._checkpoint import (
    Checkpoint,
    Cosignature,
    SignedCheckpoint,
    add_signature_lines,
    sign_checkpoint,
)
from pausewatch.ledger._log import (
    Appended,
    Entry,
    KeptCheckpoint,
    LogStore,
    PendingEntry,
    PersistentLog,
    encode_entry,
    format_time,
    from_micros,
    to_micros,
)
from pausewatch.ledger._merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Node,
    Range,
    complete_subtrees,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
    verify_inclusion_hash,
)
from pausewatch.ledger._note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Note,
    Signer,
    Verifier,
    cosignature_message,
    key_id,
    open_note,
    sign_note,
)
from pausewatch.ledger._replica import (
    SEQUENCER_LOCK_KEY,
    Handoff,
    HandoffPump,
    NoSequencerError,
    SequencerLock,
)
from pausewatch.ledger._sequencer import QueueFullError, Sequencer
from pausewatch.ledger._tree import CompactRange, MerkleTree

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "EMPTY_ROOT",
    "HASH_SIZE",
    "SEQUENCER_LOCK_KEY",
    "Appended",
    "Checkpoint",
    "CompactRange",
    "Cosignature",
    "Entry",
    "Handoff",
    "HandoffPump",
    "KeptCheckpoint",
    "LogStore",
    "MerkleTree",
    "NoSequencerError",
    "Node",
    "Note",
    "NoteError",
    "PendingEntry",
    "PersistentLog",
    "ProofError",
    "QueueFullError",
    "Range",
    "Sequencer",
    "SequencerLock",
    "SignedCheckpoint",
    "Signer",
    "VerificationError",
    "Verifier",
    "add_signature_lines",
    "complete_subtrees",
    "consistency_proof",
    "consistency_ranges",
    "cosignature_message",
    "encode_entry",
    "format_time",
    "from_micros",
    "inclusion_proof",
    "inclusion_ranges",
    "key_id",
    "leaf_hash",
    "node_hash",
    "open_note",
    "root",
    "root_from_inclusion_proof",
    "sign_checkpoint",
    "sign_note",
    "to_micros",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusion_hash",
]
