"""Management API v2: rules (list, create, get, patch, delete) and rules-configs (the
`configuration` object every rule reads: list keys, set, delete)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field, StrictBool, StrictStr
from starlette.responses import Response

from metaledger.api.auth.tokens import Principal
from metaledger.api.code_store import RULE, RULES_CONFIG, NameTaken
from metaledger.api.http.deps import ContainerDep, any_scope, body_of, raw_body_of
from metaledger.api.http.errors import ApiError
from metaledger.api.http.responses import json_response
from metaledger.api.http.routes.users import Fields, IncludeFields, select_fields
from metaledger.api.http.tenant_documents import StrictBody, saved, stored

router = APIRouter(prefix="/api/v2", tags=["rules"])

RULE_NAME_PATTERN = r"^[a-zA-Z0-9]([ \-a-zA-Z0-9]*[a-zA-Z0-9])?$"
CONFIG_KEY_PATTERN = r"^[A-Za-z0-9_\-@*+:]*$"
LOGIN_SUCCESS = "login_success"
# Auth0 keeps a rule's code to 100 kB.
MAX_SCRIPT_BYTES = 100 * 1024
MAX_ORDER = 2**53  # a JSON number every client reads exactly


RuleName = Annotated[str, Field(min_length=1, max_length=255, pattern=RULE_NAME_PATTERN)]
Script = Annotated[str, Field(min_length=1, max_length=MAX_SCRIPT_BYTES)]
Order = Annotated[int | float, Field(ge=0, le=MAX_ORDER, allow_inf_nan=False)]


class CreateRuleRequest(StrictBody):
    name: RuleName
    script: Script
    order: Order | None = None
    enabled: StrictBool = True
    stage: Annotated[str, Field(pattern=f"^{LOGIN_SUCCESS}$")] = LOGIN_SUCCESS


class UpdateRuleRequest(StrictBody):
    name: RuleName | None = None
    script: Script | None = None
    order: Order | None = None
    enabled: StrictBool | None = None


class SetRulesConfigRequest(StrictBody):
    value: Annotated[StrictStr, Field(max_length=MAX_SCRIPT_BYTES)]


class Rule(BaseModel):
    """A rule as the API answers it."""

    id: str
    name: str
    script: str
    order: float
    enabled: bool
    stage: str


class SelectedRule(BaseModel):
    """A rule as a read answers it: `fields` may leave any attribute out."""

    id: str | None = None
    name: str | None = None
    script: str | None = None
    order: float | None = None
    enabled: bool | None = None
    stage: str | None = None


class RulePage(BaseModel):
    rules: list[SelectedRule]
    start: int
    limit: int
    total: int


class RulesConfig(BaseModel):
    key: str
    value: str | None = None


RuleId = Annotated[str, Path(min_length=1, max_length=64, description="The rule's id.")]
ConfigKey = Annotated[
    str,
    Path(min_length=1, max_length=127, pattern=CONFIG_KEY_PATTERN, description="The key."),
]
ReadRules = Annotated[Principal, Depends(any_scope("read:rules"))]


NAME_TAKEN = "A rule with the same name already exists"


def _stored_rule(container: ContainerDep, rule_id: str) -> dict[str, Any]:
    return stored(
        container.code, RULE, rule_id, ApiError(404, "The rule does not exist.", "inexistent_rule")
    )


@router.get("/rules", summary="Get rules")
def list_rules(
    container: ContainerDep,
    _: ReadRules,
    enabled: Annotated[StrictBool | None, Query()] = None,
    fields: Fields = None,
    include_fields: IncludeFields = True,
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
    include_totals: Annotated[bool, Query()] = False,
) -> Response:
    rules = [
        rule for rule in container.code.all(RULE) if enabled is None or rule["enabled"] == enabled
    ]
    shown = [
        select_fields(rule, fields, include_fields)
        for rule in rules[page * per_page : (page + 1) * per_page]
    ]
    if include_totals:
        return json_response(
            {"rules": shown, "start": page * per_page, "limit": per_page, "total": len(rules)}
        )
    return json_response(shown)


@router.post(
    "/rules",
    status_code=201,
    summary="Create a rule",
    openapi_extra=raw_body_of(CreateRuleRequest),
)
def create_rule(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("create:rules"))],
    body: Annotated[CreateRuleRequest, Depends(body_of(CreateRuleRequest))],
) -> Response:
    order = body.order
    if order is None:  # after every rule there is
        order = max((rule["order"] for rule in container.code.all(RULE)), default=0) + 1
    rule_id = f"rul_{secrets.token_hex(8)}"
    rule = {
        "id": rule_id,
        "name": body.name,
        "script": body.script,
        "order": order,
        "enabled": body.enabled,
        "stage": body.stage,
    }
    try:
        container.code.add(RULE, rule_id, body.name, order, rule)
    except NameTaken:
        raise ApiError(409, NAME_TAKEN, "conflict") from None
    return json_response(rule, status_code=201)


@router.get("/rules/{id}", summary="Get a rule")
def get_rule(
    container: ContainerDep,
    _: ReadRules,
    id: RuleId,
    fields: Fields = None,
    include_fields: IncludeFields = True,
) -> Response:
    return json_response(select_fields(_stored_rule(container, id), fields, include_fields))


@router.patch("/rules/{id}", summary="Update a rule", openapi_extra=raw_body_of(UpdateRuleRequest))
def update_rule(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("update:rules"))],
    id: RuleId,
    body: Annotated[UpdateRuleRequest, Depends(body_of(UpdateRuleRequest))],
) -> Response:
    rule = _stored_rule(container, id)
    rule.update(body.model_dump(exclude_none=True))
    saved(container.code, RULE, rule, rule["order"], NAME_TAKEN)
    return json_response(rule)


@router.delete("/rules/{id}", status_code=204, summary="Delete a rule")
def delete_rule(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("delete:rules"))],
    id: RuleId,
) -> Response:
    container.code.remove(RULE, id)
    return Response(status_code=204)


@router.get("/rules-configs", summary="Get the keys of the rules configuration")
def list_rules_configs(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("read:rules_configs"))],
) -> Response:
    # The values are secrets: only the keys are ever read back.
    return json_response([{"key": config["key"]} for config in container.code.all(RULES_CONFIG)])


@router.put(
    "/rules-configs/{key}",
    summary="Set a rules configuration value",
    openapi_extra=raw_body_of(SetRulesConfigRequest),
)
def set_rules_config(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("update:rules_configs"))],
    key: ConfigKey,
    body: Annotated[SetRulesConfigRequest, Depends(body_of(SetRulesConfigRequest))],
) -> Response:
    config = {"key": key, "value": body.value}
    container.code.put(RULES_CONFIG, key, key, 0, config)
    return json_response(config)


@router.delete("/rules-configs/{key}", status_code=204, summary="Delete a rules configuration key")
def delete_rules_config(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("delete:rules_configs"))],
    key: ConfigKey,
) -> Response:
    container.code.remove(RULES_CONFIG, key)
    return Response(status_code=204)
