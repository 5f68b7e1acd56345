"""Which spellings of an address are one person: the reviewed rules ``shared.identity`` applies
(``config/identity.yaml``). The built-in default is the shipped file, so code and tests that
never read the file treat addresses exactly as the services do.

A change here changes lead ids: it ships with a re-key (``python -m shared.db.rekey``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import InitErrorDetails

from shared.reviewed_documents import DocumentError, fail, load_yaml_document, problem

IDENTITY_FILE = "identity.yaml"
ALL = "all"  # sub-addressing on every domain

# the characters an unquoted local part may hold other than letters, digits and the dot
SEPARATOR_CHARACTERS = "!#$%&'*+-/=?^_`{|}~"


class IdentityPolicyError(DocumentError):
    """The identity file is not valid; the message lists field paths and reasons."""


def _domain(value: str) -> str:
    """A domain as email-validator spells an address's domain, so it compares equal to one."""
    try:
        return validate_email(f"x@{value.strip()}", check_deliverability=False).domain
    except EmailNotValidError:
        raise ValueError(f"{value!r} is not a domain name (like gmail.com)") from None


def _separator(value: str) -> str:
    if len(value) != 1 or value not in SEPARATOR_CHARACTERS:
        raise ValueError(f"must be one of the characters {SEPARATOR_CHARACTERS} (got {value!r})")
    return value


Domain = Annotated[str, AfterValidator(_domain)]
Separator = Annotated[str, AfterValidator(_separator)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duplicates(field: str, values: tuple[str, ...]) -> list[InitErrorDetails]:
    return [problem((field, i), f"{v!r} is listed twice", v) for i, v in enumerate(values) if v in values[:i]]


class SubAddressing(_Model):
    """``ada+news@acme.com`` is ada@acme.com: after the first separator comes a tag, not a person."""

    separators: tuple[Separator, ...] = Field(min_length=1)
    domains: tuple[Domain, ...] | None = Field(
        None, description="the domains (after aliasing) where the separators mark a tag; 'all' or absent: all")

    @model_validator(mode="before")
    @classmethod
    def _all(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("domains") == ALL:
            return {**data, "domains": None}
        return data

    @model_validator(mode="after")
    def _distinct(self) -> SubAddressing:
        problems = _duplicates("separators", self.separators)
        if self.domains is not None:
            problems += _duplicates("domains", self.domains)
            if not self.domains:
                problems.append(problem(("domains",), f"name at least one domain, or write {ALL!r}", self.domains))
        fail("SubAddressing", problems)
        return self

    def applies_to(self, domain: str) -> bool:
        return self.domains is None or domain in self.domains


class IdentityPolicy(_Model):
    """How an address becomes its person's identity. Every part is required: the file says
    all there is (an empty list says "none"), so no rule hides in a default."""

    sub_addressing: tuple[SubAddressing, ...]
    domain_aliases: dict[Domain, Domain] = Field(
        description="another name of the same mailboxes -> the name the identity uses")
    insignificant_dots: tuple[Domain, ...] = Field(
        description="domains (after aliasing) whose local parts ignore dots")

    @model_validator(mode="after")
    def _aliases_first(self) -> IdentityPolicy:
        """Aliases are applied before any other rule, so every other rule names the final domain."""
        aliases = self.domain_aliases
        problems: list[InitErrorDetails] = []
        for alias, domain in aliases.items():
            if alias == domain:
                problems.append(problem(("domain_aliases", alias), "is an alias of itself", domain))
            elif domain in aliases:
                problems.append(problem(("domain_aliases", alias), f"{domain} is itself an alias (of "
                                        f"{aliases[domain]}): name the final domain", domain))

        def aliased(loc: tuple[str | int, ...], domain: str) -> None:
            if domain in aliases:
                problems.append(problem(loc, f"{domain} is an alias of {aliases[domain]} (domain_aliases, "
                                        f"applied first): name {aliases[domain]}", domain))

        for i, rule in enumerate(self.sub_addressing):
            for j, domain in enumerate(rule.domains or ()):
                aliased(("sub_addressing", i, "domains", j), domain)
        for i, domain in enumerate(self.insignificant_dots):
            aliased(("insignificant_dots", i), domain)
        problems += _duplicates("insignificant_dots", self.insignificant_dots)
        fail("IdentityPolicy", problems)
        return self

    def canonical_domain(self, domain: str) -> str:
        return self.domain_aliases.get(domain, domain)

    def separators_for(self, domain: str) -> frozenset[str]:
        """The separators that start a tag at ``domain`` (a canonical domain)."""
        return frozenset(s for rule in self.sub_addressing if rule.applies_to(domain) for s in rule.separators)

    def dots_matter(self, domain: str) -> bool:
        return domain not in self.insignificant_dots


DEFAULT_POLICY = IdentityPolicy(
    sub_addressing=(SubAddressing(separators=("+",)),),
    domain_aliases={"googlemail.com": "gmail.com"},
    insignificant_dots=("gmail.com",),
)
"""What ``config/identity.yaml`` ships with (a unit test holds them equal)."""


def load_identity_policy(config_dir: Path | str) -> IdentityPolicy:
    """``<config_dir>/identity.yaml``, or the built-in default when the directory has none
    (it is the shipped file); an invalid file raises ``IdentityPolicyError`` naming the fields."""
    path = Path(config_dir) / IDENTITY_FILE
    if not path.exists():
        return DEFAULT_POLICY
    return load_yaml_document(IdentityPolicy, path, IdentityPolicyError)
