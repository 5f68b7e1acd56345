"""POST /forms/{form_id}: an HTML form posts a lead straight from the visitor's browser.

The post is read as ``forms.yaml`` declares the form, validated by LeadIn exactly like a
JSON post to /leads, and accepted by the same use case. Browsers get 303 redirects (the
thank-you page, or the form page with ``?error=field:reason``); a fetch-based form that
sends ``Accept: application/json`` gets POST /leads's JSON answers instead.
"""

# no `from __future__ import annotations`: the route's path parameter is built per deployment (its
# form ids), and FastAPI must read the annotation where it is defined
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import orjson
from fastapi import APIRouter, Depends, Header, Path, Request, Response, status
from fastapi.responses import RedirectResponse
from fastapi.security import APIKeyHeader
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from services.intake.api.dependencies import Submissions, enforce_rate_limits
from services.intake.api.form_cors import FORM_KEY_HEADER
from services.intake.api.models import Accepted, LeadIn
from services.intake.domain.forms import (
    FORM_KEY_FIELD,
    MAX_FIELDS,
    MAX_VALUE_CHARS,
    NONCE_FIELD,
    NONCE_PATTERN,
    RENDERED_AT_FIELD,
    MappedPost,
    PostedFields,
    WebForm,
    collect,
    map_post,
    pairs_from_json,
    spam_reason,
)
from services.intake.use_cases.accept_submission import Submission, accept_submission
from shared.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from shared.events.envelope import utcnow
from shared.observability.correlation import current_correlation_id
from shared.observability.metrics import FORM_IGNORED_FIELDS, FORM_SPAM
from shared.service.access import guarded_router, public
from shared.service.auth import tokens_match
from shared.service.errors import error_responses

log = logging.getLogger(__name__)

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MAX_PART_BYTES = 64 * 1024  # one field as sent (percent-encoded); its text is held to MAX_VALUE_CHARS
MAX_REPORTED = 10  # problems put in the error page's query string
MAX_REASON_CHARS = 200

form_key_header = APIKeyHeader(
    name=FORM_KEY_HEADER, auto_error=False, scheme_name="formKey",
    description=f"The form's publishable key (pk_...), for fetch-based forms; an HTML form sends it in the "
                f"hidden field {FORM_KEY_FIELD}. It posts only to its form, from the form's allowed origins.")

_VALUE = {"type": "string", "maxLength": MAX_VALUE_CHARS}
_CONTROL_PROPERTIES = {
    FORM_KEY_FIELD: {"type": "string", "maxLength": 200, "description": "the form's publishable key, "
                                                                        "unless sent as X-Form-Key"},
    NONCE_FIELD: {"type": "string", "pattern": NONCE_PATTERN,
                  "description": "one per page render: a double submit makes one submission"},
    RENDERED_AT_FIELD: {"type": "string", "pattern": "^[0-9]{1,16}$",
                        "description": "when the page was rendered, ms since the epoch (set by the page's script)"},
}
_EXAMPLE = {"email": "ada@acme.com", "first_name": "Ada", "company": "Acme", "job_title": "VP Sales",
            "message": "Can we see a demo?", "consent": "yes", FORM_KEY_FIELD: "pk_4f3c2a1b0e9d8c7b6a5f",
            NONCE_FIELD: "3b1f7c1e9a2d4e5f", RENDERED_AT_FIELD: "1764673200000"}


def _body_schema(values: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "maxProperties": MAX_FIELDS, "additionalProperties": values,
            "properties": {"email": {"type": "string", "maxLength": 320}, **_CONTROL_PROPERTIES},
            "description": "the form's fields under the names forms.yaml declares for it, and the control fields; "
                           "undeclared fields are ignored"}


_JSON_VALUE = {"anyOf": [_VALUE, {"type": "number"}, {"type": "boolean"},
                         {"type": "array", "maxItems": MAX_FIELDS, "items": {"anyOf": [_VALUE, {"type": "boolean"}]}}]}
OPENAPI_BODY = {"requestBody": {"required": True, "content": {
    URLENCODED: {"schema": _body_schema(_VALUE), "example": _EXAMPLE},
    MULTIPART: {"schema": _body_schema(_VALUE), "example": _EXAMPLE},
    "application/json": {"schema": _body_schema(_JSON_VALUE), "example": _EXAMPLE},
}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(401, 403, 404, 413, 422, 429, 503),
    202: {"description": "Accepted (a client sending Accept: application/json): committed, and on its way to "
                         "scoring. A post taken for a bot gets the same answer, and nothing is kept",
          "headers": {"Idempotent-Replayed": {"description": "true when this answers an earlier post of the "
                                                             "same page render (_nonce)",
                                              "schema": {"type": "string", "enum": ["true"]}}}},
    303: {"description": "A browser's post: to the thank-you page once accepted (a bot is sent there too), or "
                         "back to the form page with ?error=field:reason for each field that is wrong",
          "headers": {"Location": {"description": "the thank-you or error page", "schema": {"type": "string"}}}},
}


def forms_router(forms: Mapping[str, WebForm]) -> APIRouter:
    """The route for the forms this deployment runs; their ids are documented as the path's values."""
    router = guarded_router(tags=["web forms"])
    ids = sorted(forms)
    form_id_schema: dict[str, Any] = {"enum": ids} if ids else {}

    @router.post("/forms/{form_id}", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted,
                 dependencies=[public("a web form posts from a browser: its publishable key and origin are checked")],
                 responses=RESPONSES, openapi_extra=OPENAPI_BODY,
                 summary="Post a web form (urlencoded or multipart, as browsers send it; or JSON)")
    async def post_form(
        request: Request, repository: Submissions, response: Response,
        form_id: Annotated[str, Path(max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$",
                                     json_schema_extra=form_id_schema, examples=ids[:1] or ["contact"])],
        header_key: Annotated[str | None, Depends(form_key_header)],
        origin: Annotated[str | None, Header(max_length=300, pattern=r"^[\x21-\x7e]+$", description=(
            "set by the browser: the page's origin, which must be one of the form's allowed origins"))] = None,
    ) -> Any:
        form = forms.get(form_id)
        if form is None:
            raise NotFound(f"no form {form_id} is declared in forms.yaml")
        page = _allowed_origin(form, origin)
        await enforce_rate_limits(request, f"form:{form.id}")
        posted = await _read(request)
        _check_key(form, header_key or posted.first(FORM_KEY_FIELD))
        answer = _Answer(form, page, _wants_json(request))
        reason = spam_reason(form.declaration, posted, utcnow())
        if reason is not None:
            FORM_SPAM.labels(form.id, reason).inc()
            log.info("web form post taken for a bot (%s): thanked and dropped", reason, extra={"form": form.id})
            return answer.spam()
        mapped = map_post(form.declaration, posted)
        if mapped.ignored:
            FORM_IGNORED_FIELDS.labels(form.id).inc(len(mapped.ignored))
            log.info("web form post sent fields forms.yaml does not declare: ignored",
                     extra={"form": form.id, "fields": [n[:100] for n in mapped.ignored[:MAX_REPORTED]]})
        lead, problems = _validated(mapped)
        if lead is None or problems:
            return answer.refused(problems)
        key = f"form:{form.id}:{mapped.nonce}" if mapped.nonce else None
        submission = Submission.of("lead", form.declaration.source, key, lead.model_dump(),
                                   lead.model_dump(mode="json"))
        try:
            accepted = await accept_submission(submission, repository=repository,
                                               correlation_id=current_correlation_id() or "", now=utcnow())
        except InvalidInput as exc:  # e.g. the page render's nonce came again with other values
            return answer.refused([_nonce_reused(field, reason) for field, reason in exc.problems])
        if accepted.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return answer.accepted(Accepted(submission_id=accepted.submission_id, lead_id=accepted.lead_id,
                                        correlation_id=accepted.correlation_id))

    return router


def _validated(mapped: MappedPost) -> tuple[LeadIn | None, list[tuple[str, str]]]:
    """The lead as POST /leads would take it, or the problems, in the form's own field names."""
    try:
        lead = LeadIn.model_validate(mapped.lead)
    except ValidationError as exc:
        return None, [*mapped.problems, *((mapped.form_field(e["loc"]), str(e["msg"]).removeprefix("Value error, "))
                                          for e in exc.errors())]
    return lead, list(mapped.problems)


def _nonce_reused(field: str, reason: str) -> tuple[str, str]:
    """accept_submission names the Idempotency-Key; a form's is its page render's nonce."""
    if field == "header.Idempotency-Key":
        return NONCE_FIELD, "this page was sent already with other values; reload it to send again"
    return field, reason


def _allowed_origin(form: WebForm, origin: str | None) -> str:
    """The posting page's origin, if the form takes posts from it: the browser sets Origin on
    every cross-origin POST, and a page cannot forge it."""
    if origin is None:
        raise Forbidden(f"form {form.id} takes posts from its web pages only, and this request has no Origin")
    if origin == "null":
        raise Forbidden(f"form {form.id}: the browser hid the page's origin (Origin: null); serve the page over "
                        f"http(s), without Referrer-Policy: no-referrer")
    if origin not in form.origins:
        raise Forbidden(f"form {form.id} does not take posts from pages on {origin}")
    return origin


def _check_key(form: WebForm, presented: str | None) -> None:
    if form.key is None:
        raise Forbidden(f"form {form.id} takes no posts here: no key is configured for it (HANDOFF_INTAKE_FORM_KEYS)")
    if not presented or not tokens_match(presented, form.key):
        raise Unauthorized(f"missing or wrong form key: send form {form.id}'s key in the {FORM_KEY_FIELD} field "
                           f"or the {FORM_KEY_HEADER} header")


def _wants_json(request: Request) -> bool:
    """A script asking for JSON (fetch); a browser's form navigation never sends it."""
    return "application/json" in request.headers.get("accept", "").lower() or \
        _media_type(request) == "application/json"


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read(request: Request) -> PostedFields:
    """The post's fields as pairs, however they were sent; what cannot be read is a problem."""
    media_type = _media_type(request)
    if media_type in (URLENCODED, MULTIPART):
        try:
            form = await request.form(max_files=MAX_FIELDS, max_fields=MAX_FIELDS, max_part_size=MAX_PART_BYTES)
        except HTTPException as exc:  # python-multipart could not parse it, or a bound was passed
            return PostedFields(problems=[("body", f"cannot be read as {media_type}: {exc.detail}")])
        try:
            pairs = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
            files = [name for name, value in form.multi_items() if not isinstance(value, str)]
        finally:
            await form.close()
        posted = collect(pairs)
        posted.problems += [(name, "files are not taken; send text fields only") for name in files]
        return posted
    if media_type == "application/json":
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            return PostedFields(problems=[("body", f"not valid JSON: {str(exc).splitlines()[0][:200]}")])
        pairs, problems = pairs_from_json(data)
        posted = collect(pairs)
        posted.problems += problems
        return posted
    return PostedFields(problems=[("header.Content-Type", f"send {URLENCODED} (an HTML form), {MULTIPART} or "
                                                          f"application/json")])


class _Answer:
    """The same outcome, told as a browser needs it (303) or a script (JSON)."""

    def __init__(self, form: WebForm, page: str, as_json: bool) -> None:
        self.form = form.declaration
        self.page = page
        self.as_json = as_json

    def accepted(self, accepted: Accepted) -> Accepted | RedirectResponse:
        if self.as_json:
            return accepted
        return RedirectResponse(self.form.redirect(self.form.thank_you_url, self.page), status.HTTP_303_SEE_OTHER)

    def spam(self) -> Accepted | RedirectResponse:
        """What a real post gets, so a bot cannot tell; nothing behind it is real or kept."""
        return self.accepted(Accepted(submission_id=uuid.uuid4(), lead_id=uuid.uuid4(),
                                      correlation_id=current_correlation_id() or ""))

    def refused(self, problems: Sequence[tuple[str, str]]) -> RedirectResponse:
        if self.as_json:
            raise InvalidInput(problems)
        url = urlsplit(self.form.redirect(self.form.error_url, self.page))
        query = parse_qsl(url.query, keep_blank_values=True)
        query += [("error", f"{field}:{reason[:MAX_REASON_CHARS]}") for field, reason in problems[:MAX_REPORTED]]
        location = urlunsplit(url._replace(query=urlencode(query, quote_via=quote, safe=":")))
        return RedirectResponse(location, status.HTTP_303_SEE_OTHER)
