"""Typographic symbols for readable figures, written as escapes so the source stays ASCII-clear."""

TIMES = "\N{MULTIPLICATION SIGN}"
"""The multiplication sign, between a count and what it counts."""

DASH = "\N{EN DASH}"
"""The en dash, between the ends of a range."""
