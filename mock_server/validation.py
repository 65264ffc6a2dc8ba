"""Request and response validation against the compiled spec.

Request violations become 400s in the Error shape that say what was wrong and where (`query.limit: ...`).
Response violations (strict mode) become loud 500s naming the field and the rule it broke.

Input limits, so that no input is a 500 and no input makes memory grow past a bound:
- bodies are read chunk by chunk and refused with 413 the moment they pass 1 MiB, whatever `Content-Length` says
  (chunked bodies have none; a lying one is no bound), so the server never holds more than the limit of one body;
- JSON is nested at most 64 levels (deeper is 400 `json_too_deep`: recursive validators would hit Python's stack);
  NaN, ±Infinity and unpaired surrogate escapes are refused (they are not JSON any client can read back);
- multipart and form bodies have at most 16 files, 256 fields and 1 MiB per part (400 `malformed_form`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from mock_server.errors import VALIDATION_ERROR, ApiError, Issue, bad_request
from mock_server.spec import DeclaredResponse, Operation, discriminator_values

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_FORM_FILES, MAX_FORM_FIELDS = 16, 256


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    content: bytes


_TRUE, _FALSE = {"true", "1"}, {"false", "0"}
_INTEGER = re.compile(r"-?[0-9]{1,18}")  # ASCII digits, and few enough that no bound check meets a huge number
_NUMBER = re.compile(r"-?([0-9]{1,18}(\.[0-9]{0,18})?|\.[0-9]{1,18})([eE][+-]?[0-9]{1,3})?")


def _types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type", [])
    return [t] if isinstance(t, str) else list(t)


def coerce(raw: str, schema: dict[str, Any]) -> Any:
    """Turn a path, query or header string into the JSON type its schema asks for; leave it be when it can't."""
    types = _types(schema)
    if "integer" in types and _INTEGER.fullmatch(raw):  # not int(): it takes '٣', '1_000' and ' 7 '
        return int(raw)
    if "number" in types and _NUMBER.fullmatch(raw) and math.isfinite(float(raw)):  # not 'nan', 'inf' or 1e999
        return float(raw)
    if "boolean" in types and raw.lower() in _TRUE | _FALSE:
        return raw.lower() in _TRUE
    if "null" in types and raw == "":
        return None
    return raw


# JSON Schema keyword -> the Zod-style issue code clients of these APIs know (the XP ledger reports them).
ISSUE_CODES = {
    "required": "invalid_type",
    "type": "invalid_type",
    "format": "invalid_string",
    "pattern": "invalid_string",
    "minLength": "too_small",
    "minimum": "too_small",
    "exclusiveMinimum": "too_small",
    "minItems": "too_small",
    "maxLength": "too_big",
    "maximum": "too_big",
    "exclusiveMaximum": "too_big",
    "maxItems": "too_big",
    "enum": "invalid_enum_value",
    "const": "invalid_literal",
    "additionalProperties": "unrecognized_keys",
    "unevaluatedProperties": "unrecognized_keys",
    "oneOf": "invalid_union",
    "anyOf": "invalid_union",
}


def _code(error: ValidationError) -> str:
    if "propertyNames" in error.relative_schema_path:  # a key outside the allowed names
        return "unrecognized_keys"
    return ISSUE_CODES.get(str(error.validator), "custom")


def _specific(error: ValidationError) -> list[ValidationError]:
    """A failed `oneOf`/`anyOf` says only "no branch matched". Report instead the errors of the branch the value was
    meant for: the one its OpenAPI `discriminator` names, else the one it got furthest into (deepest error, then
    fewest errors). Nested unions are resolved the same way."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    chosen = _discriminated(error, branches)
    if chosen is None:
        chosen = max(branches.values(), key=lambda errs: (max(len(e.absolute_path) for e in errs), -len(errs)))
    return [leaf for sub in chosen for leaf in _specific(sub)]


def _discriminated(error: ValidationError, branches: dict[int, list[ValidationError]]) -> list[ValidationError] | None:
    prop = (error.schema.get("discriminator") or {}).get("propertyName") if isinstance(error.schema, dict) else None
    if prop is None or not isinstance(error.instance, dict) or prop not in error.instance:
        return None
    value, accepted = error.instance[prop], []
    for i, branch in enumerate(error.schema[str(error.validator)]):  # type: ignore[index]  # a dict, checked above
        values = discriminator_values(branch, prop)
        if value in values:
            return branches.get(i, [])
        accepted += values
    path = [*error.absolute_path, prop]
    message = f"{value!r} is not one of {accepted}"
    return [ValidationError(message, validator="enum", validator_value=accepted, instance=value, path=path)]


def issue(error: ValidationError, location: str, name: str = "") -> Issue:
    """A parameter's issue names the parameter; a body's issue is a JSON Pointer (`/data/0/id`)."""
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.validator_value, list):
        # jsonschema reports each missing property as its own error, naming it only in the message.
        missing = next((f for f in error.validator_value if error.message == f"{f!r} is a required property"), None)
        path += [missing] if missing else []
    pointer = "".join(f"/{p}" for p in path)
    own_code = error.schema.get("x-error-code") if isinstance(error.schema, dict) else None
    return Issue(location, f"{name}{pointer}" if name else pointer, _code(error), error.message, own_code)


def _first_errors(
    validator: Draft202012Validator, value: Any, location: str, name: str = "", limit: int = 5
) -> list[Issue]:
    found = (leaf for e in validator.iter_errors(value) for leaf in _specific(e))
    errors = sorted(found, key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [issue(e, location, name) for e in errors[:limit]]


def check(validator: Draft202012Validator, value: Any, location: str) -> None:
    """Raise the 400 listing what breaks `validator` (inputs outside the spec: the control API's own schemas)."""
    problems = _first_errors(validator, value, location)
    if problems:
        raise invalid(problems)


def invalid(problems: list[Issue]) -> ApiError:
    """A 400 listing the problems; a field the spec gives its own code (`x-error-code`, e.g. RFC 6749's
    `unsupported_grant_type`) names the error."""
    code = next((p.error_code for p in problems if p.error_code), VALIDATION_ERROR)
    return bad_request("; ".join(p.as_text() for p in problems), error=code, issues=problems)


def validate_parameters(op: Operation, request: Request) -> dict[str, dict[str, Any]]:
    """Collect and validate path, query and header parameters; returns them typed, by location."""
    found: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}}
    problems: list[Issue] = []
    for param in op.parameters:
        if param.location == "path":
            raw_values = [request.path_params[param.name]] if param.name in request.path_params else []
        elif param.location == "query":
            raw_values = request.query_params.getlist(param.name)
        else:
            raw_values = request.headers.getlist(param.name)
        if not raw_values:
            if param.required:
                problems.append(Issue(param.location, param.name, "invalid_type", "required parameter is missing"))
            continue
        if "array" in _types(param.schema):
            items = param.schema.get("items", {})
            value: Any = [coerce(v, items) for raw in raw_values for v in raw.split(",")]
        else:
            value = coerce(raw_values[-1], param.schema)
        problems += _first_errors(param.validator, value, param.location, param.name)
        found[param.location][param.name] = value
    if problems:
        raise invalid(problems)
    return found


async def read_body(op: Operation, request: Request) -> Any:
    """Parse the body by its content type (JSON, form, multipart) and validate it against the spec."""
    if op.body is None:
        return None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await read_limited(request)
    if not raw and not content_type:
        if op.body.required:
            raise bad_request("body: a request body is required", error="missing_body")
        return None
    media = op.body.media.get(content_type)
    if media is None:
        accepted = ", ".join(op.body.media)
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {content_type or '(none)'} is not accepted; use {accepted}",
        )
    if "json" in content_type:
        value = parse_json(raw)
        checked = value
    else:
        value = await _form(request, media.schema)
        # Files validate as strings (OpenAPI `format: binary`); handlers get the UploadedFile.
        checked = {k: (v.filename or "file") if isinstance(v, UploadedFile) else v for k, v in value.items()}
    problems = _first_errors(media.validator, checked, "body")
    if problems:
        raise invalid(problems)
    return value


async def _form(request: Request, schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties", {})
    try:
        form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_BODY_BYTES)
    except Exception as exc:  # noqa: BLE001 - any parser failure is the client's malformed body
        raise bad_request(f"body: malformed form data ({exc})", error="malformed_form") from exc
    data: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            data[key] = UploadedFile(value.filename or "", value.content_type or "", await value.read())
        else:
            data[key] = coerce(value, props.get(key, {}))
    return data


async def read_limited(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, read chunk by chunk and refused with 413 as soon as it passes `limit`: a chunked body, or one
    whose `Content-Length` lies, never makes the server hold more than `limit` bytes. The bytes are kept where
    Starlette's own `body()`/`form()` look for them, so the parsers read them instead of the spent stream."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large()
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's own body cache, read by stream() and so by form()
    return body


def parse_json(raw: bytes, location: str = "body") -> Any:
    """A JSON body, or the 400 that says why not: malformed, nested deeper than MAX_JSON_DEPTH, or holding what
    Python's parser lets through but JSON clients refuse (`_not_json`). Used for spec bodies and control bodies."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _too_deep(location) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"{location}: malformed JSON ({exc})", error="malformed_json") from exc
    problems = _not_json(value, location)
    if problems:
        raise invalid(problems)
    return value


def _too_deep(location: str) -> ApiError:
    message = f"{location}: JSON nested deeper than {MAX_JSON_DEPTH} levels"
    return bad_request(message, error="json_too_deep", issues=[Issue(location, "", "too_big", message)])


def _not_json(value: Any, location: str = "body") -> list[Issue]:
    """What Python's JSON parser lets through but JSON (RFC 8259) and every client refuse: NaN, ±Infinity, and
    strings with an unpaired surrogate escape (`"\\ud800"`), which could never be sent back as UTF-8. Iterative, and
    checks the nesting depth first, so no value makes this (or the validators after it) exhaust the stack."""
    problems: list[Issue] = []
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, pointer, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            problems.append(Issue(location, pointer, "invalid_type", f"Expected a finite number, received {item}"))
        elif isinstance(item, str) and not _encodable(item):
            problems.append(Issue(location, pointer, "invalid_string", "Unpaired UTF-16 surrogate escape in a string"))
        elif isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise _too_deep(location)
            entries = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in entries:
                if isinstance(key, str) and not _encodable(key):
                    problems.append(Issue(location, pointer, "invalid_string", "Unpaired UTF-16 surrogate in a key"))
                stack.append((child, f"{pointer}/{_token(key)}", depth + 1))
    return sorted(problems, key=lambda p: p.field)


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _token(key: object) -> str:
    """A JSON Pointer reference token (RFC 6901); an unpaired surrogate is shown escaped, so the error can be sent."""
    return str(key).encode("utf-8", "backslashreplace").decode().replace("~", "~0").replace("/", "~1")


def _too_large() -> ApiError:
    return ApiError(413, "payload_too_large", f"Request body exceeds {MAX_BODY_BYTES} bytes")


def response_violations(op: Operation, status: int, body: Any) -> list[Issue]:
    """Why a response breaks the spec (strict mode), or [] when it conforms."""
    declared: DeclaredResponse | None = op.responses.get(status)
    if declared is None:
        documented = sorted(op.responses)
        return [_response_issue(f"status {status} is not documented for {op.operation_id} (documented: {documented})")]
    if declared.media is None:
        return [] if body is None else [_response_issue(f"status {status} of {op.operation_id} documents no body")]
    return _first_errors(declared.media.validator, body, "response")


def _response_issue(message: str) -> Issue:
    return Issue("response", "", "custom", message)
