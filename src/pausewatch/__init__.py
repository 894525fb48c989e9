"""pausewatch: make a time-limited global pause on frontier AI training operable and verifiable.

Every fact enters as a signed statement, is appended to one transparency log, and all state is
recomputed from that log. The public API lives in the subpackages: :mod:`pausewatch.statements`
(keys, canonical bytes, signed statements) and :mod:`pausewatch.ledger` (RFC 9162 Merkle trees,
C2SP checkpoints, notes and cosignatures, the persistent log).
"""

from pausewatch.errors import Error

__version__ = "0.1.0"

__all__ = ["Error", "__version__"]
