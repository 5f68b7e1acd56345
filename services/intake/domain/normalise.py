"""Pure normalisation of what forms send: one person, one spelling."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(raw: str) -> str:
    """Trim and lower-case; raise ValueError saying why when it is not an address."""
    email = raw.strip().lower()
    if not _EMAIL.match(email):
        raise ValueError("not an email address (expected name@domain.tld)")
    return email


def normalise_domain(raw: str | None) -> str | None:
    """'https://WWW.Acme.com/about' -> 'acme.com'. Empty stays None."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip().lower()
    host = urlsplit(text if "://" in text else f"//{text}").hostname or ""
    host = host.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    return host or None


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[1]


def normalise_phone(raw: str | None) -> str | None:
    """Keep a leading + and the digits; drop spaces, dots, dashes and brackets."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    digits = re.sub(r"\D", "", text)
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
    if raw is None:
        return None
    text = " ".join(raw.split())
    return text or None
