"""What the console's pages show, shaped for the templates: JSON text, per-key diffs, the
plan-like keys of a result row, and the events-per-minute chart."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from metaledger.domain.metadata import APP_METADATA, USER_METADATA, Changes, changes
from metaledger.domain.timeline import Entry

SHORT_JSON_CHARACTERS = 160
PLAN_LIKE_KEYS = 3
PLAN_LIKE_CHARACTERS = 40
# Root attributes that change with every event: a comparison of two moments leaves them out.
ALWAYS_CHANGING = frozenset({"updated_at"})
CHART_WIDTH = 600
CHART_HEIGHT = 120


def pretty(value: Any) -> str:
    """Indented JSON, as the page shows a bucket or a profile."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def short(value: Any, limit: int = SHORT_JSON_CHARACTERS) -> str:
    """Compact JSON, cut at `limit` characters."""
    text = orjson.dumps(value).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def plan_like(app_metadata: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The first few app_metadata keys holding a scalar or a list of scalars (plan, roles,
    tier…): what tells one account from another at a glance."""
    shown = []
    for key, value in app_metadata.items():
        scalars = value if isinstance(value, list) else [value]
        if all(isinstance(item, str | int | float | bool) for item in scalars):
            text = ", ".join(str(item) for item in scalars) or "[]"
            cut = len(text) > PLAN_LIKE_CHARACTERS
            shown.append((key, text[: PLAN_LIKE_CHARACTERS - 1] + "…" if cut else text))
        if len(shown) == PLAN_LIKE_KEYS:
            break
    return shown


@dataclass(frozen=True)
class ChangeRow:
    key: str
    old: str | None  # None: the key was absent
    new: str | None  # None: the key went away


def change_rows(found: Changes | None) -> list[ChangeRow]:
    return [
        ChangeRow(
            key,
            None if change["old"] is None else short(change["old"]),
            None if change["new"] is None else short(change["new"]),
        )
        for key, change in (found or {}).items()
    ]


def actor_text(actor: Mapping[str, Any] | None) -> str:
    if not actor:
        return "unknown"
    if actor.get("kind") == "console":
        return f"console administrator {actor.get('id')}"
    return f"{actor.get('kind')} {actor.get('id')}"


@dataclass(frozen=True)
class TimelineRow:
    version: int
    event: str
    timestamp: str
    actor: str
    actor_kind: str
    request_id: str | None
    changes: list[ChangeRow]
    erased: bool
    details: str | None  # what an event that changes no key carries (a login's IP and app)


def timeline_row(entry: Entry) -> TimelineRow:
    actor = entry.actor or {}
    return TimelineRow(
        entry.version,
        entry.event,
        when(entry.timestamp),
        actor_text(actor),
        str(actor.get("kind", "unknown")),
        actor.get("request_id"),
        change_rows(entry.changes),
        entry.erased,
        short(entry.patch) if entry.patch and not entry.changes else None,
    )


def profile_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> Changes:
    """Per-key differences between two Auth0 user objects: root attributes by name, metadata
    keys qualified by their bucket."""
    found: Changes = {}
    for key in sorted(before.keys() | after.keys()):
        if key in (USER_METADATA, APP_METADATA) or key in ALWAYS_CHANGING:
            continue
        if orjson.dumps(before.get(key)) != orjson.dumps(after.get(key)):
            found[key] = {"old": before.get(key), "new": after.get(key)}
    for bucket in (USER_METADATA, APP_METADATA):
        found.update(bucket_changes(bucket, before.get(bucket) or {}, after.get(bucket) or {}))
    return found


def bucket_changes(bucket: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> Changes:
    """A bucket's per-key changes, named as the timeline names them (`app_metadata.plan`)."""
    return {f"{bucket}.{key}": change for key, change in changes(dict(before), dict(after)).items()}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    peak: int
    total: int
    start: str  # the first minute shown, HH:MM UTC
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def per_minute(times: Iterable[datetime], now: datetime, minutes: int) -> Chart:
    """Events per minute over the last `minutes` minutes, oldest first, as SVG bars."""
    end = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    counts = [0] * minutes
    for moment in times:
        age = int((end - moment.astimezone(UTC)).total_seconds() // 60)
        if 0 <= age < minutes:
            counts[minutes - 1 - age] += 1
    peak = max(counts)
    slot = CHART_WIDTH / minutes
    bars = []
    for index, count in enumerate(counts):
        height = 0.0 if peak == 0 else (CHART_HEIGHT - 4) * count / peak
        minute = end - timedelta(minutes=minutes - index)
        bars.append(
            Bar(
                x=round(index * slot + 1, 2),
                y=round(CHART_HEIGHT - height, 2),
                width=round(slot - 2, 2),
                height=round(height, 2),
                label=f"{minute:%H:%M} UTC: {count} event{'s' if count != 1 else ''}",
            )
        )
    first = end - timedelta(minutes=minutes)
    return Chart(bars, peak, sum(counts), f"{first:%H:%M}")
