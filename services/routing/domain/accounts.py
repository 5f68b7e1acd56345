"""Lead-to-account matching: a lead from a company whose account already has an owner.

Accounts are known by their registrable domain: ``https://www.shop.acme.co.uk/about``,
``sales.acme.co.uk`` and ``ACME.co.uk`` are all ``acme.co.uk``. We keep a small list of
multi-label public suffixes (``co.uk``, ``com.au`` ...) instead of the full Public Suffix
List: company domains rarely sit under the exotic ones, and a miss there only means one
label too few (``acme.co.xx`` would be read as ``co.xx``), which no account will match.
Free-mail domains (gmail.com ...) never match an account: thousands of unrelated people
share them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from services.routing.domain.lead_facts import LeadFacts
from shared import identity

MULTI_LABEL_SUFFIXES: frozenset[str] = frozenset({
    # United Kingdom
    "co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk", "net.uk", "nhs.uk", "sch.uk",
    # Australia, New Zealand
    "com.au", "net.au", "org.au", "edu.au", "gov.au", "asn.au", "id.au",
    "co.nz", "org.nz", "net.nz", "ac.nz", "govt.nz", "geek.nz",
    # Japan, Korea, China, Hong Kong, Taiwan, Singapore, Malaysia, India, Indonesia, Thailand
    "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp", "co.kr", "or.kr", "ac.kr",
    "com.cn", "net.cn", "org.cn", "com.hk", "org.hk", "com.tw", "org.tw", "com.sg", "edu.sg",
    "com.my", "co.in", "net.in", "org.in", "firm.in", "co.id", "or.id", "co.th", "ac.th",
    # the Americas
    "com.br", "net.br", "org.br", "gov.br", "com.mx", "org.mx", "com.ar", "com.co", "com.pe", "com.uy",
    "com.ve", "com.ec",
    # Europe, Middle East, Africa
    "com.tr", "co.il", "org.il", "ac.il", "co.za", "org.za", "ac.za", "com.eg", "com.sa", "com.pl",
    "com.ua", "co.at", "or.at", "com.cy", "com.mt", "co.ke", "com.ng",
})
"""Public suffixes of two labels: the registrable domain under them has three."""

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$")


def normalise_account_domain(domain: str | None) -> str | None:
    """The registrable domain (lower case, without scheme, path, port, ``www.`` or subdomains), or None
    when there is nothing that looks like a domain (empty text, a single label, an IP address).

    An email address gives its domain: ``ana@EU.Acme.com`` -> ``acme.com``.
    """
    if domain is None:
        return None
    text = domain.strip().lower()
    if "@" in text and "://" not in text:
        text = text.rsplit("@", 1)[1]
    text = _SCHEME.sub("", text)
    text = re.split(r"[/?#]", text, maxsplit=1)[0]
    text = text.rsplit("@", 1)[-1]  # user:password@host
    text = text.split(":", 1)[0].strip().strip(".")
    labels = text.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    if all(label.isdigit() for label in labels):
        return None  # an IPv4 address is not an account
    keep = 3 if ".".join(labels[-2:]) in MULTI_LABEL_SUFFIXES else 2
    if len(labels) < keep:
        return None  # the suffix itself, like co.uk
    return ".".join(labels[-keep:])


def is_free_mail(domain: str | None, free_mail: frozenset[str]) -> bool:
    """Whether ``domain`` (an address, a host, a URL), or its registrable domain, is free mail."""
    if not domain:
        return False
    registrable = normalise_account_domain(domain)
    return identity.is_free_mail(domain, free_mail) or (registrable is not None
                                                         and identity.is_free_mail(registrable, free_mail))


def account_domains(facts: LeadFacts, free_mail: frozenset[str]) -> list[str]:
    """The account domains ``find_account`` would look up for this lead, in its order."""
    found = []
    for candidate in (facts.company_domain, facts.email_domain):
        domain = normalise_account_domain(candidate)
        if domain is not None and not is_free_mail(candidate, free_mail):
            found.append(domain)
    return found


def find_account(facts: LeadFacts, accounts: Mapping[str, str], free_mail: frozenset[str]
                 ) -> tuple[str, str] | None:
    """``(account domain, owner id)`` for the lead, or None.

    ``accounts`` maps normalised account domains (``normalise_account_domain``) to the owner id. The
    company domain is tried first, then the email domain; a free-mail domain is never looked up.
    """
    if not accounts:
        return None
    for domain in account_domains(facts, free_mail):
        owner_id = accounts.get(domain)
        if owner_id is not None:
            return domain, owner_id
    return None

