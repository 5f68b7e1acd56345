"""Web forms: what each form declares (``config/forms.yaml``, reviewed like code) and how a
form's posted fields become a lead's fields (pure).

An HTML form can only send flat name=value pairs, under names the page chose, and no
nested ``attributes``. So each form says which of its fields is which lead field, which
others are kept as attributes, which checkbox is the consent, and where the visitor goes
afterwards. Undeclared fields are ignored (web-form users add fields without telling us,
and a lead must not be lost for it) but counted, so the file can catch up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import InitErrorDetails

from shared.reviewed_documents import DocumentError, fail, load_yaml_document, parse_document, problem
from shared.validation import control_character

# LeadIn's fields (services/intake/api/models.py) but `attributes`; a unit test keeps them equal
LeadField = Literal["email", "first_name", "last_name", "company", "company_domain", "job_title", "phone",
                    "country", "region", "state", "company_size", "industry", "utm_source", "utm_medium",
                    "utm_campaign", "utm_term", "utm_content"]
LEAD_FIELDS: tuple[str, ...] = get_args(LeadField)

# Control fields the page sends besides the visitor's; they start with "_", which no declared field may
FORM_KEY_FIELD = "_form_key"  # the form's publishable key, or the X-Form-Key header
NONCE_FIELD = "_nonce"  # one per page render: a double submit is one submission
RENDERED_AT_FIELD = "_rendered_at"  # when the page was rendered, ms since the epoch (the page's clock)
CONTROL_FIELDS = (FORM_KEY_FIELD, NONCE_FIELD, RENDERED_AT_FIELD)
NONCE_PATTERN = r"^[A-Za-z0-9_-]{8,100}$"

# Attributes intake writes itself, so no form may declare them
RESERVED_ATTRIBUTES = ("form", "consent", "consent_text", "consent_version")

# Bounds of one post, on top of the 1 MiB body limit
MAX_FIELDS = 100
MAX_NAME_CHARS = 100
MAX_VALUE_CHARS = 5_000
CHECKED = ("on", "yes", "true", "1")  # a ticked checkbox: "on" is what a box without value= sends
UNCHECKED = ("", "off", "no", "false", "0")

SpamReason = Literal["honeypot", "no_render_time", "too_fast"]
SPAM_REASONS: tuple[str, ...] = get_args(SpamReason)

_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_EARLIEST_RENDER_MS = 946_684_800_000  # 2000-01-01: anything earlier is not a page's clock


class FormsError(DocumentError):
    """The forms file, or the form settings, are invalid; the message names the field."""


def _origin(value: str) -> str:
    """Exactly as a browser sends it in ``Origin``: scheme://host[:port], lower case, no path."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("not an origin: write scheme://host[:port], e.g. https://www.example.com") from None
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    if default_port is None or not parts.hostname or parts.path or parts.query or parts.fragment \
            or "@" in parts.netloc or value.endswith(("?", "#")):
        raise ValueError("not an origin: write scheme://host[:port] without a path, e.g. https://www.example.com")
    if value != value.lower() or port == default_port:
        raise ValueError("write the origin as browsers send it: lower case, without the default port")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ValueError("a public page is served over https; http is for pages on this machine "
                         "(localhost, 127.0.0.1, [::1])")
    return value


def _page_url(value: str) -> str:
    """A path on the posting page's origin (/thanks.html), or an absolute http(s) URL."""
    if control_character(value) or any(c.isspace() for c in value):
        raise ValueError("must not contain spaces or control characters")
    if value.startswith("/") and not value.startswith("//"):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("a path on the form page's origin (/thanks.html) or an absolute http(s) URL")
    return value


Origin = Annotated[str, StringConstraints(max_length=300), AfterValidator(_origin)]
PageUrl = Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_page_url)]
FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.\[\]-]{0,99}$")]
FormId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Source = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")]
_Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class ConsentField(BaseModel):
    """The checkbox the visitor ticks; its state, text and version are kept with the lead."""

    model_config = ConfigDict(extra="forbid")

    field: FieldName
    required: bool = Field(True, description="unticked: the post is refused, naming the field")
    text: _Text = Field(description="what the visitor agreed to, as the page shows it")
    version: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class SpamSettings(BaseModel):
    """Cheap bot checks; a post that fails one is thanked and dropped (bots learn nothing)."""

    model_config = ConfigDict(extra="forbid")

    honeypot_field: FieldName | None = Field(
        "website", description="a field hidden from people: a value in it means a bot; null: no honeypot")
    min_fill_seconds: float = Field(
        3, ge=0, le=3600, description=f"posts sooner than this after the page's {RENDERED_AT_FIELD} are bots; "
                                      f"0: no fill-time check")


class FormDeclaration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: FormId
    source: Source = Field(description="the lead's source, as reports and routing rules name it")
    fields: dict[FieldName, LeadField] = Field(min_length=1, description="form field -> lead field")
    attributes: list[FieldName] = Field(default_factory=list, description="form fields kept as attributes")
    consent: ConsentField | None = None
    allowed_origins: list[Origin] = Field(min_length=1, description="pages that may post to this form")
    thank_you_url: PageUrl = Field(description="303 after acceptance")
    error_url: PageUrl = Field(description="303 with ?error=field:reason when a field is wrong")
    spam: SpamSettings = Field(default_factory=SpamSettings)

    @model_validator(mode="after")
    def _names_are_distinct(self) -> FormDeclaration:
        problems: list[InitErrorDetails] = []
        if "email" not in self.fields.values():
            problems.append(problem(("fields",), "map one form field to email: it is the lead's identity",
                                    dict(self.fields)))
        mapped_from: dict[str, str] = {}
        for name, lead_field in self.fields.items():
            if lead_field in mapped_from:
                problems.append(problem(("fields", name), f"{lead_field} is already mapped from "
                                                          f"{mapped_from[lead_field]}", lead_field))
            mapped_from.setdefault(lead_field, name)
        taken = set(self.fields)
        for i, name in enumerate(self.attributes):
            if name in RESERVED_ATTRIBUTES:
                problems.append(problem(("attributes", i), f"{name} is written by intake itself; "
                                                           f"name the field otherwise", name))
            elif name in taken:
                problems.append(problem(("attributes", i), f"{name} is declared already", name))
            taken.add(name)
        if self.consent is not None:
            if self.consent.field in taken:
                problems.append(problem(("consent", "field"), f"{self.consent.field} is declared already",
                                        self.consent.field))
            taken.add(self.consent.field)
        if self.spam.honeypot_field is not None and self.spam.honeypot_field in taken:
            problems.append(problem(("spam", "honeypot_field"), f"{self.spam.honeypot_field} is a real field "
                                                                f"of this form; pick another name",
                                    self.spam.honeypot_field))
        fail("FormDeclaration", problems)
        return self

    def redirect(self, url: str, origin: str) -> str:
        """``url`` (thank-you or error page) as a Location: paths are on the posting page's origin."""
        return origin + url if url.startswith("/") else url


class FormsDocument(BaseModel):
    """``config/forms.yaml``: every web form intake takes posts for."""

    model_config = ConfigDict(extra="forbid")

    forms: list[FormDeclaration] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> FormsDocument:
        seen: set[str] = set()
        problems = []
        for i, form in enumerate(self.forms):
            if form.id in seen:
                problems.append(problem(("forms", i, "id"), f"form {form.id} is declared twice", form.id))
            seen.add(form.id)
        fail("FormsDocument", problems)
        return self


def parse_forms(data: Any, origin: str = "forms") -> FormsDocument:
    return parse_document(FormsDocument, data, origin, FormsError)


def load_forms(path: Path | str) -> FormsDocument:
    return load_yaml_document(FormsDocument, path, FormsError)


# ---- one deployment's forms: the file, with the keys and origins its settings add ------------

@dataclass(frozen=True)
class WebForm:
    declaration: FormDeclaration
    origins: frozenset[str]
    key: str | None  # publishable; None: this deployment takes no posts for the form

    @property
    def id(self) -> str:
        return self.declaration.id


def deploy_forms(document: FormsDocument, *, keys: Mapping[str, str], extra_origins: Mapping[str, Sequence[str]],
                 source_keys: Iterable[str]) -> dict[str, WebForm]:
    """The forms as this deployment runs them; FormsError when the settings name a form the
    file lacks, or a form key could also open /leads (it is public: it must not)."""
    declared = {form.id: form for form in document.forms}
    problems = [f"form_keys.{name}: no form {name} is declared" for name in keys if name not in declared]
    problems += [f"form_origins.{name}: no form {name} is declared" for name in extra_origins
                 if name not in declared]
    sources = set(source_keys)
    problems += [f"form_keys.{name}: the same value is a source API key; a form key is public and must differ"
                 for name, key in keys.items() if key in sources]
    if problems:
        raise FormsError("; ".join(problems))
    return {name: WebForm(form, frozenset(form.allowed_origins) | frozenset(extra_origins.get(name, ())),
                          keys.get(name)) for name, form in declared.items()}


def check_origin(value: str) -> str:
    """An origin as settings give it, checked like the file's (raises ValueError)."""
    return _origin(value)


# ---- a post, field by field ------------------------------------------------------------

@dataclass
class PostedFields:
    """A post's fields in order, a name possibly repeated (checkbox groups, multi-selects)."""

    values: dict[str, list[str]] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (field, reason): refused before mapping

    def first(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[0] if found else None


def collect(pairs: Iterable[tuple[str, str]]) -> PostedFields:
    """The pairs of a urlencoded or multipart body, bounded: at most MAX_FIELDS, each name and
    value within its length; every problem names its field."""
    posted = PostedFields()
    for count, (name, value) in enumerate(pairs, start=1):
        if count > MAX_FIELDS:
            posted.problems.append(("body", f"more than {MAX_FIELDS} fields; a form sends fewer"))
            break
        if not name.strip():  # browsers never send an unnamed input; nothing of it can be a lead's field
            continue
        if len(name) > MAX_NAME_CHARS:
            posted.problems.append(("body", f"a field name is longer than {MAX_NAME_CHARS} characters"))
            continue
        if len(value) > MAX_VALUE_CHARS:
            posted.problems.append((name, f"longer than {MAX_VALUE_CHARS} characters"))
            continue
        posted.values.setdefault(name, []).append(value)
    return posted


JsonScalar = str | int | float | bool


def pairs_from_json(data: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A fetch-based form's JSON object as the pairs an HTML form would send, and the problems:
    values are strings, numbers, true/false or lists of those; null is left out."""
    if not isinstance(data, dict):
        return [], [("body", "must be a JSON object of the form's fields")]
    pairs: list[tuple[str, str]] = []
    problems: list[tuple[str, str]] = []
    for name, value in data.items():
        items = value if isinstance(value, list) else [value]
        if len(items) > MAX_FIELDS:
            problems.append((name, f"more than {MAX_FIELDS} values"))
            continue
        for item in items:
            if item is None:
                continue
            if not isinstance(item, JsonScalar):
                problems.append((name, "must be a string, a number, true/false or a list of those"))
                break
            pairs.append((name, _as_text(item)))
    return pairs, problems


def _as_text(value: JsonScalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def spam_reason(form: FormDeclaration, posted: PostedFields, now: datetime) -> SpamReason | None:
    """Why this post looks like a bot, or None: the honeypot holds a value, or the page's render
    time is missing, garbage, or less than ``min_fill_seconds`` ago. Clock skew: the render time
    is the visitor's clock; a clock ahead of ours shortens the fill time by as much."""
    honeypot = form.spam.honeypot_field
    if honeypot is not None and any(v.strip() for v in posted.values.get(honeypot, ())):
        return "honeypot"
    if form.spam.min_fill_seconds <= 0:
        return None
    rendered = posted.first(RENDERED_AT_FIELD)
    if rendered is None or not re.fullmatch(r"[0-9]{1,16}", rendered) or int(rendered) < _EARLIEST_RENDER_MS:
        return "no_render_time"
    if now.timestamp() * 1000 - int(rendered) < form.spam.min_fill_seconds * 1000:
        return "too_fast"
    return None


@dataclass(frozen=True)
class MappedPost:
    """A post as a lead (LeadIn's fields, to be validated like a JSON post) and what was left."""

    lead: dict[str, Any]
    problems: list[tuple[str, str]]  # (form field, reason)
    ignored: tuple[str, ...]  # undeclared fields, by name
    nonce: str | None
    form_field_of: Mapping[str, str]  # lead field -> the form field it came from

    def form_field(self, loc: Sequence[str | int]) -> str:
        """The form's own name for a LeadIn error location: what the page can point at."""
        if not loc:
            return "body"
        head = str(loc[0])
        if head == "attributes":
            return str(loc[1]) if len(loc) > 1 else "body"
        return self.form_field_of.get(head, head)


def map_post(form: FormDeclaration, posted: PostedFields) -> MappedPost:
    """The lead the post describes: declared fields to lead fields (empty ones left out, as an
    HTML form sends every input), declared extras and the consent to attributes."""
    problems = list(posted.problems)
    lead: dict[str, Any] = {}
    for name, lead_field in form.fields.items():
        values = [v for v in posted.values.get(name, ()) if v != ""]
        if len(values) > 1:
            problems.append((name, f"sent {len(values)} times; one value is expected"))
        elif values:
            lead[lead_field] = values[0]
    attributes: dict[str, Any] = {"form": form.id}
    for name in form.attributes:
        values = [v for v in posted.values.get(name, ()) if v != ""]
        if values:
            attributes[name] = values[0] if len(values) == 1 else values
    if form.consent is not None:
        given = _consent(form.consent, posted.values.get(form.consent.field, []))
        if isinstance(given, str):
            problems.append((form.consent.field, given))
        else:
            attributes.update(consent=given, consent_text=form.consent.text, consent_version=form.consent.version)
    lead["attributes"] = attributes
    known = set(form.fields) | set(form.attributes) | set(CONTROL_FIELDS)
    known |= {n for n in (form.consent.field if form.consent else None, form.spam.honeypot_field) if n}
    nonce = posted.first(NONCE_FIELD)
    if nonce is not None and not re.fullmatch(NONCE_PATTERN, nonce):
        problems.append((NONCE_FIELD, "8 to 100 letters, digits, - or _ (the page makes one per render)"))
        nonce = None
    return MappedPost(lead, problems, tuple(n for n in posted.values if n not in known), nonce,
                      {lead_field: name for name, lead_field in form.fields.items()})


def _consent(consent: ConsentField, values: Sequence[str]) -> bool | str:
    """True or False, or the reason the post is refused."""
    ticked = [v.strip().lower() for v in values]
    if any(v not in CHECKED + UNCHECKED for v in ticked):
        return f"not a checkbox value; send one of {', '.join(CHECKED)} when ticked"
    given = any(v in CHECKED for v in ticked)
    if consent.required and not given:
        return "must be ticked to send this form"
    return given
