"""Field types shared by statement bodies: the ones of :mod:`pausewatch.fields`, re-exported
where the statement kinds have always imported them."""

from __future__ import annotations

from pausewatch.fields import Digest, Id, KeyId, Label, Line, Name, Text, Time

__all__ = ["Digest", "Id", "KeyId", "Label", "Line", "Name", "Text", "Time"]
