"""Keys, canonical bytes and signed statements.

Public API::

    canonical(value) -> bytes                  RFC 8785 bytes
    KeyPair.generate(name), write_key, load_key, load_or_create_key
    statement_kind("name/v1")                  register a body model
    sign_statement(kind, body, key) -> Statement
    parse_statement(json_obj) -> Statement     validates and verifies
"""

from pausewatch.statements._canonical import (
    MAX_JSON_DEPTH,
    canonical,
    digest,
    json_depth,
    parse_json,
)
from pausewatch.statements._keys import (
    KeyPair,
    check_name,
    key_fingerprint,
    load_key,
    load_or_create_key,
    load_public,
    public_key_of,
    signer_id,
    write_key,
)
from pausewatch.statements._kinds import (
    Body,
    Notice,
    UtcDatetime,
    body_model,
    kinds,
    statement_kind,
)
from pausewatch.statements._statement import (
    DOMAIN,
    MAX_STATEMENT_BYTES,
    Statement,
    parse_statement,
    sign_statement,
    signing_input,
)

__all__ = [
    "DOMAIN",
    "MAX_JSON_DEPTH",
    "MAX_STATEMENT_BYTES",
    "Body",
    "KeyPair",
    "Notice",
    "Statement",
    "UtcDatetime",
    "body_model",
    "canonical",
    "check_name",
    "digest",
    "json_depth",
    "key_fingerprint",
    "kinds",
    "load_key",
    "load_or_create_key",
    "load_public",
    "parse_json",
    "parse_statement",
    "public_key_of",
    "sign_statement",
    "signer_id",
    "signing_input",
    "statement_kind",
    "write_key",
]
