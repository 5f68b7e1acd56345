"""What a HubSpot webhook event means for a lead, by a reviewed mapping file.

HubSpot's webhook events carry no outcome, only "this property of this contact
changed to this value", and no email: a contact is known by its object id. So the
mapping (``config/hubspot_mapping.yaml``) says which property changes are which
outcomes, and a change of the identity property (``email``) links the contact's
object id to our lead. Pure: the caller stores links and applies outcomes.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.feedback.domain.stages import MAX_AMOUNT
from shared.events.payloads import Outcome
from shared.reviewed_documents import DocumentError, load_yaml_document
from shared.validation import CleanInput

PROPERTY_CHANGE = "contact.propertyChange"


class HubSpotMappingError(DocumentError):
    """The mapping file is invalid; the message names the field."""


class OutcomeRule(BaseModel):
    """One property change that is an outcome: first match wins."""

    model_config = ConfigDict(extra="forbid")

    property: Annotated[str, StringConstraints(min_length=1)]
    value: str | None = Field(None, description="the property's new value; omitted: any non-empty value")
    outcome: Outcome
    reason: str | None = Field(None, description="the reason recorded with the outcome")
    reason_from_value: bool = Field(False, description="the property's value is the reason (a custom property)")
    amount_from_value: bool = Field(False, description="won: the property's value is the deal amount")

    @model_validator(mode="after")
    def _consistent(self) -> OutcomeRule:
        if self.reason and self.reason_from_value:
            raise ValueError("give reason or reason_from_value, not both")
        if self.amount_from_value and self.outcome != Outcome.WON:
            raise ValueError("amount_from_value only makes sense for outcome won")
        if self.outcome == Outcome.WON and not self.amount_from_value:
            raise ValueError("a won outcome needs its amount: set amount_from_value on a property that holds it")
        if self.outcome in (Outcome.REJECTED, Outcome.LOST, Outcome.RECYCLED) \
                and not (self.reason or self.reason_from_value):
            raise ValueError(f"a {self.outcome.value} outcome needs reason or reason_from_value")
        return self

    def matches(self, prop: str, value: str) -> bool:
        return prop == self.property and (self.value is None or value.casefold() == self.value.casefold())


class HubSpotMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3, to_upper=True)] = Field(
        description="the portal's company currency: amounts come without one")
    identity_property: str = Field("email", min_length=1)
    outcomes: list[OutcomeRule] = Field(min_length=1)


def load_mapping(path: Path | str, vocabulary: Mapping[str, Sequence[str]] | None = None) -> HubSpotMapping:
    """The mapping file; with ``vocabulary`` (outcome -> agreed reasons), a rule's fixed reason
    outside it is refused now rather than parking every outcome it maps."""
    mapping = load_yaml_document(HubSpotMapping, path, HubSpotMappingError)
    problems = []
    for i, rule in enumerate(mapping.outcomes):
        agreed = (vocabulary or {}).get(rule.outcome.value)
        if agreed is not None and rule.reason is not None and rule.reason not in agreed:
            close = difflib.get_close_matches(rule.reason, agreed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"outcomes.{i}.reason: {rule.reason!r} is not an agreed {rule.outcome.value} reason"
                            f"{hint}; agreed: {', '.join(agreed)}")
    if problems:
        raise HubSpotMappingError(f"{path} is invalid: " + "; ".join(problems))
    return mapping


Id = Annotated[int, Field(ge=0, le=2**63 - 1)]
MAX_OCCURRED_AT_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class HubSpotEvent(CleanInput):
    """One element of the JSON array HubSpot posts; unknown fields are kept, not refused."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "eventId": 1, "subscriptionId": 25, "portalId": 33, "occurredAt": 1764666000000,
        "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": 123,
        "propertyName": "lifecyclestage", "propertyValue": "salesqualifiedlead"}]})

    eventId: Id
    subscriptionId: Id
    portalId: Id
    occurredAt: int = Field(ge=0, le=MAX_OCCURRED_AT_MS, description="milliseconds since the epoch")
    subscriptionType: str = Field(max_length=100)
    objectId: Id
    attemptNumber: int = Field(0, ge=0, le=1000)
    propertyName: str | None = Field(None, max_length=200)
    propertyValue: str | None = Field(None, max_length=10_000)

    @property
    def contact_ref(self) -> str:
        return f"hubspot:{self.portalId}:{self.objectId}"

    @property
    def delivery_id(self) -> str:
        """Stable across HubSpot's retries (eventId alone is not promised unique)."""
        return f"hubspot:{self.portalId}:{self.subscriptionId}:{self.eventId}:{self.objectId}:{self.occurredAt}"

    @property
    def occurred(self) -> datetime:
        return datetime.fromtimestamp(self.occurredAt / 1000, tz=UTC)


@dataclass(frozen=True)
class ContactLink:
    contact_ref: str
    email: str


@dataclass(frozen=True)
class MappedOutcome:
    contact_ref: str
    delivery_id: str
    outcome: Outcome
    reason: str | None
    amount: Decimal | None
    currency: str | None


@dataclass(frozen=True)
class Unusable:
    """Meant as an outcome but cannot be one as sent: parked with the problem."""

    contact_ref: str
    delivery_id: str
    problem: str


@dataclass(frozen=True)
class Ignored:
    why: str


Meaning = ContactLink | MappedOutcome | Unusable | Ignored


def interpret(event: HubSpotEvent, mapping: HubSpotMapping) -> Meaning:
    if event.subscriptionType != PROPERTY_CHANGE:
        return Ignored(f"subscription type {event.subscriptionType} carries no outcome")
    prop, value = event.propertyName or "", (event.propertyValue or "").strip()
    if prop == mapping.identity_property:
        if "@" not in value:
            return Ignored(f"{prop} changed to a value that is not an email")
        return ContactLink(event.contact_ref, value.lower())
    if not value:
        return Ignored(f"{prop or 'a property'} was cleared")
    rule = next((r for r in mapping.outcomes if r.matches(prop, value)), None)
    if rule is None:
        return Ignored(f"{prop}={value} is not mapped to an outcome")
    amount = None
    if rule.amount_from_value:
        try:
            amount = Decimal(value)
        except InvalidOperation:
            return Unusable(event.contact_ref, event.delivery_id, f"{prop}={value!r} is not an amount")
        if not amount.is_finite() or amount < 0:
            return Unusable(event.contact_ref, event.delivery_id, f"{prop}={value!r} is not an amount")
        if amount > MAX_AMOUNT:
            return Unusable(event.contact_ref, event.delivery_id, f"{prop}={value!r} is larger than {MAX_AMOUNT}")
    return MappedOutcome(
        contact_ref=event.contact_ref, delivery_id=event.delivery_id, outcome=rule.outcome,
        reason=value if rule.reason_from_value else rule.reason, amount=amount,
        currency=mapping.currency if amount is not None else None,
    )
