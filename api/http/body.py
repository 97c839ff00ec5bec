"""Request bodies: size-capped, JSON or form-encoded, validated with Auth0's error texts."""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from metaledger.api.http.errors import ApiError, invalid_body
from metaledger.api.http.schemas import BOOLEAN_FIELDS, METADATA_FIELDS
from metaledger.domain.metadata import MAX_DEPTH_CEILING, json_type_name, walk

Model = TypeVar("Model", bound=BaseModel)

FORM = "application/x-www-form-urlencoded"
# A body holding a metadata bucket as deep as a bucket may ever be. Deeper bodies are refused
# before anything that recurses (validation, copies, serialisers, messages) can meet them.
MAX_BODY_DEPTH = MAX_DEPTH_CEILING + 1


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it exceeds `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request payload is larger than {limit} bytes.", "payload_too_large")


def decode(raw: bytes, content_type: str) -> dict[str, Any]:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == FORM:
        return _decode_form(raw)
    if media_type not in ("", "application/json") and not media_type.endswith("+json"):
        raise invalid_body(f"Unsupported content type: {media_type}.")
    try:
        data = parse_json(raw, MAX_BODY_DEPTH, "payload") if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise invalid_body("Invalid request payload JSON format") from None
    if not isinstance(data, dict):
        raise invalid_body(
            f"Payload validation error: 'Expected type object but found type "
            f"{json_type_name(data)}'."
        )
    return data


def _decode_form(raw: bytes) -> dict[str, Any]:
    """Form fields are text: booleans come as true/false and metadata as JSON text."""
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise invalid_body("Invalid request payload form format") from None
    data: dict[str, Any] = {}
    for name, value in pairs:
        if name in BOOLEAN_FIELDS and value in ("true", "false"):
            data[name] = value == "true"
        elif name in METADATA_FIELDS:
            try:
                data[name] = parse_json(value, MAX_BODY_DEPTH - 1, name)
            except orjson.JSONDecodeError:
                raise invalid_body(f"Payload validation error: '{name}' is not JSON.") from None
        else:
            data[name] = value
    return data


def parse_json(text: bytes | str, max_depth: int, name: str) -> Any:
    """JSON text, refused when nested deeper than `max_depth`, with every integer exact: orjson
    reads one beyond 64 bits as the nearest float, which would then be stored silently."""
    value = orjson.loads(text)
    rounded = False
    for _, level, item in walk(value):
        if isinstance(item, dict | list) and level >= max_depth:
            raise invalid_body(
                f"Payload validation error: '{name}' is nested deeper than {max_depth} levels."
            )
        rounded = rounded or (isinstance(item, float) and item.is_integer() and abs(item) >= 2**63)
    # The standard library keeps integers exact (for the rules to refuse those out of range),
    # and recursing through the text is safe now that its depth is known.
    return json.loads(text) if rounded else value


def validate(model: type[Model], data: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_body(payload_error_message(error, data)) from None


def payload_error_message(error: ValidationError, data: dict[str, Any]) -> str:
    problems = error.errors()
    extra = [str(p["loc"][0]) for p in problems if p["type"] == "extra_forbidden"]
    if extra:
        return f"Payload validation error: 'Additional properties not allowed: {','.join(extra)}'."
    problem = problems[0]
    field = ".".join(str(part) for part in problem["loc"])
    kind = problem["type"]
    value = problem.get("input")
    ctx = problem.get("ctx", {})
    if kind == "missing":
        return f"Payload validation error: 'Missing required property: {field}'."
    if kind.endswith("_type"):
        expected = {
            "bool_type": "boolean",
            "string_type": "string",
            "dict_type": "object",
            "int_type": "integer",
        }.get(kind, kind.removesuffix("_type"))
        detail = f"Expected type {expected} but found type {json_type_name(value)}"
    elif kind == "string_too_short":
        detail = f"String is too short ({len(value)} chars), minimum {ctx.get('min_length')}"
    elif kind == "string_too_long":
        detail = f"String is too long ({len(value)} chars), maximum {ctx.get('max_length')}"
    elif kind == "string_pattern_mismatch":
        detail = f"String does not match pattern {ctx.get('pattern')}: {value}"
    else:
        detail = str(problem.get("msg", "invalid value"))
    return f"Payload validation error: '{detail}' on property {field}."
