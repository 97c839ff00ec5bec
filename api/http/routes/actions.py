"""Management API v2: Actions (create, list, get, patch, delete, deploy) and the bindings of the
post-login and pre-user-registration triggers.

An action's code runs only once deployed (deploy copies the code and secrets into an immutable
version) and bound to a trigger. Secrets are kept for the code and never read back: the API
shows their names only.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from starlette.responses import Response

from metaledger.api.auth.tokens import Principal
from metaledger.api.code_store import ACTION, BINDINGS, NameTaken
from metaledger.api.http.deps import ContainerDep, any_scope, body_of, raw_body_of
from metaledger.api.http.errors import ApiError, invalid_body
from metaledger.api.http.responses import json_response
from metaledger.api.http.tenant_documents import StrictBody, saved, stored
from metaledger.api.sandbox.pipeline import TRIGGERS

router = APIRouter(prefix="/api/v2/actions", tags=["actions"])

# Auth0 keeps an action's code to 100 kB.
MAX_CODE_BYTES = 100 * 1024
RUNTIME: Literal["node22"] = "node22"
TRIGGER_VERSIONS = {"post-login": "v3", "pre-user-registration": "v2"}


Name = Annotated[str, Field(min_length=1, max_length=255)]
Code = Annotated[str, Field(max_length=MAX_CODE_BYTES)]


class Trigger(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    id: Literal["post-login", "pre-user-registration"]
    version: StrictStr | None = None


class Secret(StrictBody):
    name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_\-]+$")]
    value: Annotated[StrictStr, Field(max_length=MAX_CODE_BYTES)] | None = None


class CreateActionRequest(StrictBody):
    name: Name
    supported_triggers: Annotated[list[Trigger], Field(min_length=1, max_length=1)]
    code: Code = ""
    dependencies: Annotated[list[dict[str, Any]], Field(default_factory=list, max_length=0)]
    runtime: Literal["node18", "node22"] = RUNTIME
    secrets: Annotated[list[Secret], Field(default_factory=list, max_length=100)]
    deploy: StrictBool = False


class UpdateActionRequest(StrictBody):
    name: Name | None = None
    supported_triggers: Annotated[list[Trigger], Field(min_length=1, max_length=1)] | None = None
    code: Code | None = None
    dependencies: Annotated[list[dict[str, Any]], Field(max_length=0)] | None = None
    runtime: Literal["node18", "node22"] | None = None
    secrets: Annotated[list[Secret], Field(max_length=100)] | None = None


class BindingRef(StrictBody):
    type: Literal["action_id", "action_name"]
    value: Annotated[str, Field(min_length=1, max_length=255)]


class Binding(StrictBody):
    ref: BindingRef
    display_name: Name | None = None
    secrets: Annotated[list[Secret], Field(max_length=0)] | None = None


class UpdateBindingsRequest(StrictBody):
    bindings: Annotated[list[Binding], Field(default_factory=list, max_length=50)]


ActionId = Annotated[str, Path(min_length=1, max_length=64, description="The action's id.")]
TriggerId = Annotated[
    Literal["post-login", "pre-user-registration"], Path(description="The trigger.")
]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


NAME_TAKEN = "An action with the same name already exists."


def _stored(container: ContainerDep, action_id: str) -> dict[str, Any]:
    return stored(
        container.code, ACTION, action_id, ApiError(404, "The action does not exist.", "not_found")
    )


def _secrets(given: list[Secret], kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The secrets as sent; one sent without a value keeps the value it had."""
    old = {secret["name"]: secret for secret in kept}
    stored = []
    for secret in given:
        if secret.value is not None:
            stored.append({"name": secret.name, "value": secret.value, "updated_at": _now()})
        elif secret.name in old:
            stored.append(old[secret.name])
        else:
            raise invalid_body(f"Secret {secret.name} has no value.")
    return stored


def _shown_secrets(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": secret["name"], "updated_at": secret["updated_at"]} for secret in stored]


def _version(action: dict[str, Any]) -> dict[str, Any] | None:
    deployed = action.get("deployed_version")
    if deployed is None:
        return None
    return {
        "id": deployed["id"],
        "action_id": action["id"],
        "code": deployed["code"],
        "dependencies": [],
        "runtime": action["runtime"],
        "secrets": [
            {"name": name, "updated_at": deployed["created_at"]} for name in deployed["secrets"]
        ],
        "deployed": True,
        "number": deployed["number"],
        "status": "built",
        "supported_triggers": action["supported_triggers"],
        "created_at": deployed["created_at"],
        "updated_at": deployed["created_at"],
        "built_at": deployed["created_at"],
    }


def _shown(action: dict[str, Any]) -> dict[str, Any]:
    shown = {key: value for key, value in action.items() if key != "deployed_version"}
    shown["secrets"] = _shown_secrets(action["secrets"])
    version = _version(action)
    if version is not None:
        shown["deployed_version"] = version
    return shown


def _triggers(triggers: list[Trigger]) -> list[dict[str, Any]]:
    return [
        {"id": trigger.id, "version": trigger.version or TRIGGER_VERSIONS[trigger.id]}
        for trigger in triggers
    ]


def _deploy(action: dict[str, Any]) -> None:
    previous = action.get("deployed_version") or {"number": 0}
    action["deployed_version"] = {
        "id": secrets.token_hex(16),
        "number": previous["number"] + 1,
        "code": action["code"],
        "secrets": {secret["name"]: secret["value"] for secret in action["secrets"]},
        "created_at": _now(),
    }
    action["all_changes_deployed"] = True


@router.post(
    "/actions",
    status_code=201,
    summary="Create an action",
    openapi_extra=raw_body_of(CreateActionRequest),
)
def create_action(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("create:actions"))],
    body: Annotated[CreateActionRequest, Depends(body_of(CreateActionRequest))],
) -> Response:
    now = _now()
    action: dict[str, Any] = {
        "id": secrets.token_hex(16),
        "name": body.name,
        "supported_triggers": _triggers(body.supported_triggers),
        "code": body.code,
        "dependencies": [],
        "runtime": body.runtime,
        "secrets": _secrets(body.secrets, []),
        "status": "built",
        "all_changes_deployed": False,
        "created_at": now,
        "updated_at": now,
    }
    if body.deploy:
        _deploy(action)
    try:
        container.code.add(ACTION, action["id"], action["name"], 0, action)
    except NameTaken:
        raise ApiError(409, NAME_TAKEN, "conflict") from None
    return json_response(_shown(action), status_code=201)


@router.get("/actions", summary="Get actions")
def list_actions(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("read:actions"))],
    trigger_id: Annotated[str | None, Query(alias="triggerId", max_length=64)] = None,
    action_name: Annotated[str | None, Query(alias="actionName", max_length=255)] = None,
    deployed: Annotated[StrictBool | None, Query()] = None,
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    actions = [
        action
        for action in container.code.all(ACTION)
        if (trigger_id is None or any(t["id"] == trigger_id for t in action["supported_triggers"]))
        and (action_name is None or action["name"] == action_name)
        and (deployed is None or (action.get("deployed_version") is not None) == deployed)
    ]
    return json_response(
        {
            "actions": [_shown(a) for a in actions[page * per_page : (page + 1) * per_page]],
            "total": len(actions),
            "page": page,
            "per_page": per_page,
        }
    )


@router.get("/actions/{id}", summary="Get an action")
def get_action(
    id: ActionId,
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("read:actions"))],
) -> Response:
    return json_response(_shown(_stored(container, id)))


@router.patch(
    "/actions/{id}", summary="Update an action", openapi_extra=raw_body_of(UpdateActionRequest)
)
def update_action(
    id: ActionId,
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("update:actions"))],
    body: Annotated[UpdateActionRequest, Depends(body_of(UpdateActionRequest))],
) -> Response:
    action = _stored(container, id)
    if body.name is not None:
        action["name"] = body.name
    if body.code is not None:
        action["code"] = body.code
    if body.runtime is not None:
        action["runtime"] = body.runtime
    if body.supported_triggers is not None:
        action["supported_triggers"] = _triggers(body.supported_triggers)
    if body.secrets is not None:
        action["secrets"] = _secrets(body.secrets, action["secrets"])
    action["all_changes_deployed"] = False
    action["updated_at"] = _now()
    saved(container.code, ACTION, action, 0, NAME_TAKEN)
    return json_response(_shown(action))


@router.delete("/actions/{id}", status_code=204, summary="Delete an action")
def delete_action(
    id: ActionId,
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("delete:actions"))],
    force: Annotated[StrictBool, Query()] = False,
) -> Response:
    bound_to = [trigger for trigger in TRIGGERS if _bound(container, trigger, id)]
    if bound_to and not force:
        raise ApiError(
            409,
            "The action is bound to a trigger; unbind it first or delete with force=true.",
            "conflict",
        )
    for trigger in bound_to:
        kept = [b for b in container.code.get(BINDINGS, trigger) if b["action_id"] != id]
        container.code.put(BINDINGS, trigger, trigger, 0, kept)
    container.code.remove(ACTION, id)
    return Response(status_code=204)


@router.post("/actions/{id}/deploy", summary="Deploy an action")
def deploy_action(
    id: ActionId,
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("create:actions"))],
) -> Response:
    action = _stored(container, id)
    _deploy(action)
    saved(container.code, ACTION, action, 0, NAME_TAKEN)
    version = _version(action)
    assert version is not None  # deployed just above
    return json_response(version)


def _bound(container: ContainerDep, trigger: str, action_id: str) -> bool:
    return any(b["action_id"] == action_id for b in container.code.get(BINDINGS, trigger) or [])


def _bindings_shown(container: ContainerDep, trigger: str) -> list[dict[str, Any]]:
    shown = []
    for binding in container.code.get(BINDINGS, trigger) or []:
        action = container.code.get(ACTION, binding["action_id"])
        if action is None:
            continue
        shown.append(
            {
                "id": binding["id"],
                "trigger_id": trigger,
                "display_name": binding["display_name"],
                "action": _shown(action),
                "created_at": binding["created_at"],
                "updated_at": binding["created_at"],
            }
        )
    return shown


@router.get("/triggers/{triggerId}/bindings", summary="Get the actions bound to a trigger")
def get_bindings(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("read:actions"))],
    trigger: Annotated[TriggerId, Path(alias="triggerId")],
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    bindings = _bindings_shown(container, trigger)
    return json_response(
        {
            "bindings": bindings[page * per_page : (page + 1) * per_page],
            "total": len(bindings),
            "page": page,
            "per_page": per_page,
        }
    )


@router.patch(
    "/triggers/{triggerId}/bindings",
    summary="Bind actions to a trigger, in the order they run",
    openapi_extra=raw_body_of(UpdateBindingsRequest),
)
def update_bindings(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("update:actions"))],
    trigger: Annotated[TriggerId, Path(alias="triggerId")],
    body: Annotated[UpdateBindingsRequest, Depends(body_of(UpdateBindingsRequest))],
) -> Response:
    actions = container.code.all(ACTION)
    stored = []
    for binding in body.bindings:
        key = "id" if binding.ref.type == "action_id" else "name"
        found = next((a for a in actions if a[key] == binding.ref.value), None)
        if found is None:
            raise invalid_body(f"Action {binding.ref.value} does not exist.")
        if not any(t["id"] == trigger for t in found["supported_triggers"]):
            raise invalid_body(f"Action {found['name']} does not support the trigger {trigger}.")
        if found.get("deployed_version") is None:
            raise invalid_body(f"Action {found['name']} has not been deployed.")
        stored.append(
            {
                "id": secrets.token_hex(16),
                "action_id": found["id"],
                "display_name": binding.display_name or found["name"],
                "created_at": _now(),
            }
        )
    container.code.put(BINDINGS, trigger, trigger, 0, stored)
    return json_response({"bindings": _bindings_shown(container, trigger)})
