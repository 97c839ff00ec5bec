"""The console's pages: sign-in, users, a user (metadata editor, block, delete), the timeline,
time travel and the stream. They call the application directly, never the HTTP API, and every
change carries the administrator as its actor with the request's id.

The routes stay out of the OpenAPI document: they answer HTML for a browser session (a cookie
and a CSRF token), not the bearer-token JSON API that document describes and that the
schemathesis fuzz test drives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import APIRouter, Depends, Form, Query, Request
from jinja2 import Environment
from starlette.responses import HTMLResponse, RedirectResponse, Response

from metaledger.api.auth.login import LoginRefused, TooManyAttempts
from metaledger.api.bootstrap import Container
from metaledger.api.http.console.administrator import ConsoleLogin
from metaledger.api.http.console.session import (
    COOKIE,
    LIFETIME_SECONDS,
    LOGIN_COOKIE,
    LOGIN_FORM_SECONDS,
    PATH,
    Session,
    Sessions,
    login_form_matches,
    login_form_token,
    set_cookie,
)
from metaledger.api.http.console.views import (
    actor_text,
    bucket_changes,
    change_rows,
    per_minute,
    plan_like,
    pretty,
    profile_changes,
    timeline_row,
    when,
)
from metaledger.api.http.deps import request_id
from metaledger.domain import metadata
from metaledger.domain.actor import Actor
from metaledger.domain.errors import InvalidRequest, UserNotFound
from metaledger.domain.feed import ChangeFeed
from metaledger.domain.history import HistoryFilter, UserHistory
from metaledger.domain.metadata import APP_METADATA, USER_METADATA
from metaledger.domain.profiles import ConcurrentUpdateError, UserUpdate
from metaledger.domain.time_travel import user_as_of, user_at_version
from metaledger.domain.timeline import EVENT_TOPICS, Entry
from metaledger.domain.user import User
from metaledger.projections.search.errors import InvalidQuery, QueryTimeout
from metaledger.projections.search.fields import ROOT_FIELDS
from metaledger.projections.search.store import SearchRequest, Sort

router = APIRouter(prefix=PATH, include_in_schema=False)

# No script, style, image or connection from anywhere but the console itself; no inline script
# or style, so a value that slipped past escaping still could not run.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
USERS_PER_PAGE = (25, 50, 100)
# Offset paging reaches the first 1,000 results of a search, as the API's does.
MAX_REACHABLE = 1000
SORTS = {
    "": "Default order",
    "created_at:-1": "Newest first",
    "created_at:1": "Oldest first",
    "updated_at:-1": "Recently updated",
    "last_login:-1": "Recent login",
    "email:1": "Email A→Z",
    "name:1": "Name A→Z",
    "logins_count:-1": "Most logins",
}
SEARCH_EXAMPLES = (
    'email:"jane@example.com"',
    'app_metadata.plan:"pro"',
    "user_metadata.hobby:surf*",
    "_exists_:app_metadata.roles",
    "logins_count:[1 TO *] AND NOT blocked:true",
)
EVENTS_PER_PAGE = 50
# A filtered timeline page reads at most this many versions, so that a rare match in a long
# history still renders quickly; the page then says how far it looked and continues below.
SCAN_BUDGET = 3000
STREAM_EVENTS = 50
# The chart counts the newest events only, so that drawing it stays cheap under heavy writes.
CHART_EVENTS = 1000
CHART_MINUTES = 30
BUCKETS = (USER_METADATA, APP_METADATA)
MAX_PAGE = 1_000_000
MAX_VERSION = 2**63 - 1


@dataclass(frozen=True)
class Console:
    container: Container
    sessions: Sessions
    login: ConsoleLogin
    templates: Environment


class SignInRequired(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class PageError(Exception):
    """A page that cannot be shown: the status and what to tell the administrator."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def get_console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]


async def signed_in(request: Request, console: ConsoleDep) -> Session:
    session = console.sessions.read(request)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return session


SessionDep = Annotated[Session, Depends(signed_in)]


async def posted_by_console(
    session: SessionDep, csrf_token: Annotated[str, Form()] = ""
) -> Session:
    """The session of a form the console served: its CSRF token must come back with it."""
    if not session.csrf_matches(csrf_token):
        raise PageError(403, "The form's security token is missing or stale: reload the page.")
    return session


FormSessionDep = Annotated[Session, Depends(posted_by_console)]


def render(
    console: Console,
    template: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    html = console.templates.get_template(template).render(**context)
    return HTMLResponse(html, status, headers={**SECURITY_HEADERS, **(headers or {})})


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, 303, headers=SECURITY_HEADERS)


def user_path(user_id: str, page: str = "") -> str:
    return f"{PATH}/users/{quote(user_id, safe='')}" + (f"/{page}" if page else "")


def console_actor(session: Session, request: Request) -> Actor:
    return Actor(
        kind="console",
        id=session.username,
        request_id=request_id(request),
        ip=request.client.host if request.client else None,
    )


def safe_next(target: str) -> str:
    """Where to go after signing in: a console page only, never another site."""
    if target.startswith(PATH + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PATH}/users"


# Sign-in


@router.get("")
def home() -> Response:
    return redirect(f"{PATH}/users")


@router.get("/login")
def login_page(request: Request, console: ConsoleDep, next: str = "") -> Response:
    return login_form(request, console, next)


def login_form(
    request: Request,
    console: Console,
    next: str,
    status: int = 200,
    error: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    token = login_form_token(request)
    response = render(
        console,
        "login.html",
        status,
        headers,
        csrf=token,
        next=safe_next(next),
        error=error,
        session=None,
    )
    set_cookie(request, response, LOGIN_COOKIE, token, LOGIN_FORM_SECONDS)
    return response


@router.post("/login")
def login(
    request: Request,
    console: ConsoleDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    if not login_form_matches(request, csrf_token):
        return login_form(request, console, next, 403, "The sign-in form expired: try again.")
    ip = request.client.host if request.client else "unknown"
    try:
        name = console.login.sign_in(username, password, ip)
    except TooManyAttempts as refused:
        minutes = -(-refused.block.retry_after // 60)
        message = f"Too many failed sign-ins: try again in {minutes} minute(s)."
        return login_form(request, console, next, 429, message, refused.block.headers())
    except LoginRefused:
        return login_form(request, console, next, 401, "Wrong username or password.")
    response = redirect(safe_next(next))
    set_cookie(request, response, COOKIE, console.sessions.open(name), LIFETIME_SECONDS)
    response.delete_cookie(LOGIN_COOKIE, path=PATH)
    return response


@router.post("/logout")
def logout(_: FormSessionDep) -> Response:
    response = redirect(f"{PATH}/login")
    response.delete_cookie(COOKIE, path=PATH)
    return response


# Users


@router.get("/users")
def users(
    console: ConsoleDep,
    session: SessionDep,
    q: str = "",
    page: Annotated[int, Query(ge=0, le=MAX_REACHABLE)] = 0,
    per_page: int = USERS_PER_PAGE[0],
    sort: str = "",
    notice: str = "",
) -> Response:
    size = per_page if per_page in USERS_PER_PAGE else USERS_PER_PAGE[0]
    context: dict[str, Any] = {
        "session": session,
        "q": q,
        "sort": sort if sort in SORTS else "",
        "sorts": SORTS,
        "per_page": size,
        "sizes": USERS_PER_PAGE,
        "examples": SEARCH_EXAMPLES,
        "notice": notice,
        "page": page,
        "rows": [],
        "total": 0,
        "error": None,
    }
    store = console.container.search
    try:
        start = page * size
        result = store.search(
            SearchRequest(
                store.translator.translate(q or None),
                _sort(context["sort"]),
                offset=start,
                limit=max(0, min(size, MAX_REACHABLE - start)),
                count_total=True,
            )
        )
    except InvalidQuery as error:
        return render(console, "users.html", 400, **{**context, "error": error.message})
    except QueryTimeout:
        message = "The search took too long: narrow it down and try again."
        return render(console, "users.html", 503, **{**context, "error": message})
    total = result.total or 0
    rows = [_user_row(found.user()) for found in result.users]
    last_page = max(0, (min(total, MAX_REACHABLE) - 1) // size)
    link = {"q": q, "per_page": size, "sort": context["sort"]}
    return render(
        console,
        "users.html",
        **{
            **context,
            "rows": rows,
            "total": total,
            "first": page * size + 1 if rows else 0,
            "last_shown": page * size + len(rows),
            "last_page": last_page,
            "capped": total > MAX_REACHABLE,
            "previous_url": _url("users", {**link, "page": page - 1}) if page > 0 else None,
            "next_url": _url("users", {**link, "page": page + 1}) if page < last_page else None,
        },
    )


def _sort(text: str) -> Sort | None:
    if not text:
        return None
    name, _, order = text.partition(":")
    field = ROOT_FIELDS[name]
    return Sort(field.column, order == "-1", field.nullable)


def _url(page: str, params: dict[str, Any]) -> str:
    shown = {key: value for key, value in params.items() if value not in ("", None)}
    return f"{PATH}/{page}?{urlencode(shown)}"


def _shown_time(stamp: str | None) -> str | None:
    """An Auth0 timestamp (`2026-12-05T05:54:48.612Z`) to the minute, as a person reads it."""
    return f"{stamp[:10]} {stamp[11:16]} UTC" if stamp else None


def _user_row(user: User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "url": user_path(user.user_id),
        "email": user.email,
        "name": user.profile.get("name"),
        "connection": user.connection,
        "plan_like": plan_like(user.app_metadata),
        "last_login": _shown_time(user.last_login),
        "blocked": user.profile.get("blocked") is True,
    }


# A user


@router.get("/users/{user_id}")
def user_page(
    user_id: str, console: ConsoleDep, session: SessionDep, saved: int | None = None
) -> Response:
    user = _live_user(console, user_id)
    notice = f"Saved: the user is now at version {saved}." if saved else None
    return _user_view(console, session, user, notice=notice)


def _live_user(console: Console, user_id: str) -> User:
    try:
        return console.container.profiles.get_user(user_id)
    except UserNotFound:
        raise PageError(404, f"There is no user {user_id} (or they were deleted).") from None


def _user_view(
    console: Console, session: Session, user: User, status: int = 200, **editor: Any
) -> Response:
    shown = user.as_auth0()
    profile = {k: v for k, v in shown.items() if k not in BUCKETS}
    return render(
        console,
        "user.html",
        status,
        session=session,
        user=shown,
        title=user.email or user.user_id,
        url=user_path(user.user_id),
        profile=profile,
        buckets={bucket: pretty(shown[bucket]) for bucket in BUCKETS},
        blocked=user.profile.get("blocked") is True,
        version=user.version,
        bucket=editor.pop("bucket", APP_METADATA),
        patch=editor.pop("patch", ""),
        **editor,
    )


@router.post("/users/{user_id}/metadata")
def edit_metadata(
    user_id: str,
    request: Request,
    console: ConsoleDep,
    session: FormSessionDep,
    bucket: Annotated[str, Form()] = APP_METADATA,
    patch: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "preview",
) -> Response:
    user = _live_user(console, user_id)
    editor: dict[str, Any] = {"bucket": bucket, "patch": patch}
    profiles = console.container.profiles
    try:
        parsed = _patch_of(bucket, patch)
        metadata.validate_patch(bucket, parsed, profiles.limits)
        after = metadata.merge(getattr(user, bucket), parsed)
        metadata.check_limits(bucket, after, profiles.limits)
        if action == "save":
            written = profiles.update_user(
                user_id, UserUpdate(buckets={bucket: parsed}), console_actor(session, request)
            )
            # Back to the top, where the notice is (the form's own fragment would follow).
            return redirect(f"{user_path(user_id)}?saved={written.user.version}#main")
    except InvalidRequest as refused:
        return _user_view(console, session, user, 400, refusal=refused.message, **editor)
    except ConcurrentUpdateError:
        message = "The user is being changed by someone else right now: try again."
        return _user_view(console, session, user, 503, refusal=message, **editor)
    preview = {
        "after": pretty(after),
        "changes": change_rows(bucket_changes(bucket, getattr(user, bucket), after)),
    }
    return _user_view(console, session, user, preview=preview, **editor)


def _patch_of(bucket: str, text: str) -> Any:
    if bucket not in BUCKETS:
        raise InvalidRequest(f"Choose user_metadata or app_metadata, not {bucket!r}.")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"The patch is not valid JSON: {error}.") from None


@router.post("/users/{user_id}/block")
def block(
    user_id: str,
    request: Request,
    console: ConsoleDep,
    session: FormSessionDep,
    blocked: Annotated[str, Form()] = "true",
) -> Response:
    _live_user(console, user_id)
    update = UserUpdate(profile={"blocked": blocked == "true"})
    written = console.container.profiles.update_user(
        user_id, update, console_actor(session, request)
    )
    return redirect(f"{user_path(user_id)}?saved={written.user.version}")


@router.post("/users/{user_id}/delete")
def delete(
    user_id: str,
    request: Request,
    console: ConsoleDep,
    session: FormSessionDep,
    confirm: Annotated[str, Form()] = "",
    erase: Annotated[str, Form()] = "",
) -> Response:
    erased = erase == "on"
    if erased and _newest_entry(UserHistory(console.container.profiles), user_id).event == (
        "UserDeleted"
    ):
        user = None  # deleted earlier: their personal data may still be erased
    else:
        user = _live_user(console, user_id)
    if confirm.strip() != user_id:
        message = "Type the user's id exactly to confirm: nothing was deleted."
        if user is None:
            raise PageError(400, message)
        return _user_view(console, session, user, 400, delete_refusal=message)
    console.container.profiles.delete_user(user_id, console_actor(session, request), erase=erased)
    done = "erased: their personal data can no longer be read" if erased else "deleted"
    return redirect(_url("users", {"notice": f"{user_id} was {done}."}))


# Timeline and time travel


@router.get("/users/{user_id}/timeline")
def timeline(
    user_id: str,
    console: ConsoleDep,
    session: SessionDep,
    key: str = "",
    event: str = "",
    page: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 0,
    before: Annotated[int | None, Query(alias="from", ge=1, le=MAX_VERSION)] = None,
) -> Response:
    """Unfiltered, numbered pages (the count of events is the newest version); filtered, pages
    by checkpoint (`from` a version), since counting matches would read the whole history."""
    if event and event not in EVENT_TOPICS:
        raise PageError(400, f"There is no event called {event}.")
    where = HistoryFilter(
        events=frozenset({event}) if event else frozenset(), key=key.strip() or None
    )
    history = UserHistory(console.container.profiles)
    filtered = bool(where.events or where.key)
    try:
        newest = _newest_entry(history, user_id)
        total = None if filtered else newest.version
        if total is not None:
            before = total + 1 - page * EVENTS_PER_PAGE
        found = history.scan(user_id, where, before, EVENTS_PER_PAGE, SCAN_BUDGET)
    except UserNotFound:
        raise PageError(404, f"There is no user {user_id}.") from None
    base = user_path(user_id, "timeline")

    def at(**position: int | None) -> str:
        params = {"key": key, "event": event, **position}
        return f"{base}?{urlencode({k: v for k, v in params.items() if v})}"

    if total is None:
        last_page = page
        pages = {
            "first": at() if before is not None else None,
            "next": at(**{"from": found.next}) if found.next else None,
        }
    else:
        last_page = max(0, (total - 1) // EVENTS_PER_PAGE)
        pages = {
            "first": at() if page > 0 else None,
            "previous": at(page=page - 1) if page > 0 else None,
            "next": at(page=page + 1) if page < last_page else None,
            "last": at(page=last_page) if page < last_page else None,
        }
    return _user_subpage(
        console,
        session,
        user_id,
        "timeline.html",
        rows=[timeline_row(entry) for entry in found.entries],
        total=total,
        searched_to=found.next if len(found.entries) < EVENTS_PER_PAGE else None,
        # Deleted without erasure: the page offers to erase what can still be read.
        erasable=newest.event == "UserDeleted" and not newest.erased,
        page=page,
        last_page=last_page,
        pages=pages,
        key=key,
        event=event,
        events=sorted(EVENT_TOPICS),
    )


def _newest_entry(history: UserHistory, user_id: str) -> Entry:
    """The user's last event: whether they are deleted, and erased."""
    return history.scan(user_id, HistoryFilter(), None, 1).entries[0]


def _user_subpage(
    console: Console, session: Session, user_id: str, template: str, **context: Any
) -> Response:
    """A page about one user (who may be deleted by now), under the user's tabs."""
    return render(
        console,
        template,
        session=session,
        user_id=user_id,
        title=_title(console, user_id),
        url=user_path(user_id),
        **context,
    )


def _title(console: Console, user_id: str) -> str:
    try:
        return console.container.profiles.get_user(user_id).email or user_id
    except UserNotFound:
        return f"{user_id} (deleted)"


@router.get("/users/{user_id}/time-travel")
def time_travel(
    user_id: str,
    console: ConsoleDep,
    session: SessionDep,
    version: str = "",
    at: str = "",
    compare: str = "",
) -> Response:
    # Strings, parsed here: the form sends an empty field for "no comparison".
    chosen, compared = _version_number(version), _version_number(compare)
    profiles = console.container.profiles
    history = UserHistory(profiles)
    try:
        last = _newest_entry(history, user_id)
        # A deleted user's last profile is the one before the deletion.
        newest = last.version - 1 if last.event == "UserDeleted" else last.version
        if at:
            user = user_as_of(profiles, user_id, _moment(at))
        else:
            user = user_at_version(profiles, user_id, min(chosen or newest, newest))
        other = user_at_version(profiles, user_id, min(compared, newest)) if compared else None
    except UserNotFound as missing:
        raise PageError(404, missing.message) from None
    shown = user.as_auth0()
    differences = None
    if other is not None:
        first, second = sorted((user, other), key=lambda u: u.version)
        differences = change_rows(profile_changes(first.as_auth0(), second.as_auth0()))
    return _user_subpage(
        console,
        session,
        user_id,
        "time_travel.html",
        action=user_path(user_id, "time-travel"),
        newest=newest,
        version=user.version,
        moment=when(user.modified_on),
        moment_input=user.modified_on.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        event=_event_at(history, user_id, user.version),
        event_url=_timeline_at(user_id, last.version, user.version),
        profile=pretty(shown),
        compare=other.version if other else None,
        compare_moment=when(other.modified_on) if other else None,
        differences=differences,
    )


def _timeline_at(user_id: str, newest: int, version: int) -> str:
    """The unfiltered timeline page that shows `version`, at its entry."""
    page = (newest - version) // EVENTS_PER_PAGE
    return f"{user_path(user_id, 'timeline')}?{urlencode({'page': page})}#v{version}"


def _version_number(text: str) -> int | None:
    if not text.strip():
        return None
    if not (text.strip().isascii() and text.strip().isdigit()) or int(text) < 1:
        raise PageError(400, f"{text!r} is not a version: versions count from 1.")
    return int(text)


def _moment(text: str) -> datetime:
    """A moment from the date-time picker, which sends no zone: the page says it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PageError(400, f"{text!r} is not a date and time.") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _event_at(history: UserHistory, user_id: str, version: int) -> dict[str, str]:
    entry: Entry = history.scan(user_id, HistoryFilter(), version + 1, 1).entries[0]
    return {"name": entry.event, "actor": actor_text(entry.actor)}


# The stream


@router.get("/stream")
def stream(console: ConsoleDep, session: SessionDep) -> Response:
    return render(console, "stream.html", session=session, **_live(console))


@router.get("/stream/live")
def stream_live(console: ConsoleDep, _: SessionDep) -> Response:
    """The live part of the stream page alone, which the page's script polls for."""
    return render(console, "_live.html", **_live(console))


def _live(console: Console) -> dict[str, Any]:
    profiles = console.container.profiles
    end = profiles.recorder.max_notification_id() or 0
    items = ChangeFeed(profiles).read(max(0, end - CHART_EVENTS), CHART_EVENTS).items
    newest = items[::-1][:STREAM_EVENTS]
    return {
        "items": [
            {
                "position": item.position,
                "user_id": item.user_id,
                "url": user_path(item.user_id, "timeline") if item.user_id else None,
                "row": timeline_row(item.entry),
            }
            for item in newest
        ],
        "chart": per_minute(
            (item.entry.timestamp for item in items), datetime.now(UTC), CHART_MINUTES
        ),
        "chart_events": CHART_EVENTS,
        "sampled": len(items),
    }
