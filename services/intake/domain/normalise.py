"""Pure normalisation of what forms send: one person, one spelling. The email and the
company's domain are spelled by ``shared.identity``, like everywhere else."""

from __future__ import annotations

import re

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def normalise_phone(raw: str | None) -> str | None:
    """Keep a leading + and the digits; drop spaces, dots, dashes and brackets."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    digits = re.sub(r"[^0-9]", "", text)
    if not digits:
        return None
    return f"+{digits}" if text.startswith("+") else digits


def normalise_utm(raw: dict[str, str | None]) -> dict[str, str]:
    """Only the five UTM fields, trimmed and lower-cased, empties dropped."""
    out: dict[str, str] = {}
    for name in UTM_FIELDS:
        value = raw.get(name)
        if value is not None and value.strip():
            out[name] = value.strip().lower()
    return out


def clean_text(raw: str | None) -> str | None:
    """Runs of whitespace become one space; nothing left is None."""
    if raw is None:
        return None
    text = " ".join(raw.split())
    return text or None


def code(raw: str | None) -> str | None:
    """A country or state code: trimmed, upper case, None when empty."""
    text = clean_text(raw)
    return text.upper() if text else None
