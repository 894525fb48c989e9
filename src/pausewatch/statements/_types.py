"""Field types shared by statement bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")]
"""A registry identifier: 1-128 characters, letters, digits and ``. _ : / -``."""
KeyId = Annotated[str, Field(pattern=r"^ed25519:[A-Za-z0-9+/]{43}=$")]
"""A public key as a statement signer id: ``ed25519:`` and 44 characters of base64."""
Name = Annotated[str, Field(min_length=1, max_length=200)]
"""A name for people."""
Text = Annotated[str, Field(max_length=4_000)]
"""Free text."""
Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
"""A lowercase hex SHA-256."""

__all__ = ["Digest", "Id", "KeyId", "Name", "Text"]
