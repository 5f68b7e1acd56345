"""Who a lead is: an address's person (its identity), one lead id, the email's domain, and
whether that domain is a free-mail provider's. Every service and tool asks this module, so a
person is the same lead wherever they are looked up.

The identity is the normalised address with what does not name a person taken out, by the
reviewed rules of ``config/identity.yaml`` (``shared.identity_policy``): ``ada+news@acme.com``
is ``ada@acme.com``, ``A.da@googlemail.com`` is ``ada@gmail.com``. The lead id is an
HMAC-SHA256 of the identity under the installation's secret key (``lead_id_key`` in the
``access`` schema), shaped as a UUID (version 8): every service computes the same id from the
email, but someone who knows an email and not the key cannot, and Kafka keys carry no
personal data. The address itself travels as sent (``normalise_email``): it is where the
person is contacted, and its domain is the one accounts are matched on.

The rules are read once per process: a service's app calls ``configure`` with the file of its
config dir when it is built; anything that never does (tests, tools) gets the built-in default,
which is the shipped file. The key is read once per process too (``configure_key``, as a
service starts, from the database); without it no lead id can be computed. A caller that
holds another policy or key passes it explicitly.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Final
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from shared.identity_policy import DEFAULT_POLICY, IdentityPolicy

LEAD_NAMESPACE = uuid.UUID("6f1d7f3e-2d7c-4f3b-9a55-3c9e1c0a4b10")
"""Of the ids before keyed ids (``UNKEYED``), which migrations move stored leads from."""

MIN_KEY_BYTES = 32
UNKEYED: Final = b""
"""Not a key: ``lead_id_for(..., key=UNKEYED)`` is the id before keyed ids, uuid5 of the
identity, which anyone could compute from an email. Only the migrations use it."""

FREE_MAIL_DOMAINS: frozenset[str] = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "ymail.com",
    "hotmail.com", "hotmail.co.uk", "hotmail.fr", "outlook.com", "live.com", "msn.com", "icloud.com",
    "me.com", "mac.com", "aol.com", "gmx.de", "gmx.net", "gmx.com", "web.de", "t-online.de",
    "proton.me", "protonmail.com", "mail.com", "zoho.com", "fastmail.com", "hey.com", "tutanota.com",
    "yandex.com", "yandex.ru", "mail.ru", "qq.com", "163.com", "orange.fr", "free.fr", "laposte.net",
    "libero.it", "btinternet.com", "uol.com.br", "bol.com.br",
})
"""Mailbox providers anyone can sign up with: their domain says nothing about an employer,
so it never matches an account and counts against fit. Configuration may add to it."""

MAX_EMAIL_LENGTH = 320


class InvalidEmail(ValueError):
    """Not an email address; the message says why, in words a form builder can act on."""


def normalise_email(raw: str) -> str:
    """An address as it travels in events and is contacted: trimmed, syntax-checked, lower-cased
    (not yet the person: that is ``identity_of``).

    Validated by ``email-validator`` (syntax only, no DNS): a domain needs a dot, special-use
    domains (``.local``, ``.test``) and IP literals are refused.
    """
    text = raw.strip()
    if len(text) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(f"not an email address: longer than {MAX_EMAIL_LENGTH} characters")
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"not an email address: {exc}") from None
    return checked.normalized.lower()


def email_domain(email: str) -> str:
    """The part after the last @, lower-cased; '' when there is none."""
    _, at, domain = email.rpartition("@")
    return domain.strip().lower().rstrip(".") if at else ""


def domain_of(domain_or_email: str) -> str:
    """The domain of an address, or a bare domain as it is: lower-cased, without a trailing dot."""
    text = domain_or_email.strip()
    return email_domain(text) if "@" in text else text.lower().rstrip(".")


def domain_suffixes(domain: str) -> list[str]:
    """'eu.acme.co.uk' -> ['eu.acme.co.uk', 'acme.co.uk', 'co.uk']: the domain and every parent
    but the top-level one, most specific first."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def host_of(raw: str | None) -> str | None:
    """A website or domain as a bare host: 'https://WWW.Acme.com/about' -> 'acme.com'; empty: None."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip().lower()
    if "@" in text and "://" not in text:
        text = email_domain(text)
    try:
        host = urlsplit(text if "://" in text else f"//{text}").hostname or ""
    except ValueError:  # an unbalanced '[' reads as a broken IPv6 literal
        return None
    host = host.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    return host or None


_policy: IdentityPolicy = DEFAULT_POLICY


def configure(policy: IdentityPolicy) -> IdentityPolicy:
    """Make ``policy`` this process's identity rules (a service does it once, as its app is
    built); returns the rules it replaces."""
    global _policy
    previous, _policy = _policy, policy
    return previous


def active_policy() -> IdentityPolicy:
    return _policy


def identity_of(email: str, policy: IdentityPolicy | None = None) -> str:
    """The person an address reaches, spelled one way: normalised (``normalise_email``), the
    domain's alias resolved, a sub-address tag dropped, insignificant dots removed.

    Raises ``InvalidEmail`` for what is not an address; an identity is its own identity.
    """
    rules = policy or _policy
    local, _, domain = normalise_email(email).rpartition("@")
    domain = rules.canonical_domain(domain)
    separators = rules.separators_for(domain)
    cut = next((i for i, char in enumerate(local) if char in separators), None)
    if cut:  # at 0 the whole local part would be the tag: then it names the person
        local = local[:cut].rstrip(".")  # 'ada.+x' -> 'ada': a local part never ends with a dot
    if not rules.dots_matter(domain):
        local = local.replace(".", "")
    return f"{local}@{domain}"


class LeadIdKeyMissing(RuntimeError):
    """Lead ids were asked for before the installation's key was configured."""


_key: bytes | None = None


def configure_key(key: bytes | None) -> bytes | None:
    """Make ``key`` this process's lead id key (a service does it once, as it starts, from the
    database; None: none); returns the key it replaces."""
    global _key
    if key is not None and len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a lead id key has at least {MIN_KEY_BYTES} bytes, not {len(key)}")
    previous, _key = _key, key
    return previous


def lead_id_for(email: str, policy: IdentityPolicy | None = None, *, key: bytes | None = None,
                generation: int = 0) -> uuid.UUID:
    """A person's stable id: every spelling of one identity is the same lead, and the id says
    nothing about the email to whoever does not hold the key.

    ``generation`` counts the person's erasures (``shared.access.erasures``): after one, the same
    address is a new lead under a new id, and every event still about the old id is dropped."""
    identity = identity_of(email, policy)
    if generation:
        identity = f"{identity}\n{generation}"  # no identity holds a newline
    secret = _key if key is None else key
    if secret is None:
        raise LeadIdKeyMissing("lead ids need the installation's key: shared.identity.configure_key "
                               "(services read it from the database as they start)")
    if secret == UNKEYED:
        return uuid.uuid5(LEAD_NAMESPACE, identity)
    value = int.from_bytes(hmac.new(secret, identity.encode(), hashlib.sha256).digest()[:16], "big")
    value = (value & ~(0xF << 76)) | (0x8 << 76)  # version 8: custom (RFC 9562)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # the RFC variant
    return uuid.UUID(int=value)


def is_free_mail(domain_or_email: str | None, extra: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether the domain (or an address's domain), or a domain it is a subdomain of, is free mail."""
    if not domain_or_email:
        return False
    known = FREE_MAIL_DOMAINS | extra
    return any(suffix in known for suffix in domain_suffixes(domain_of(domain_or_email)))
