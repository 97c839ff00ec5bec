"""What the console's pages show: plan-like keys, moment comparisons and the per-minute chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from metaledger.api.http.console.views import per_minute, plan_like, profile_changes, timeline_row
from metaledger.domain.timeline import describe

NOW = datetime(2026, 12, 5, 12, 30, 20, tzinfo=UTC)


def test_plan_like_keys_are_the_first_scalar_or_list_keys() -> None:
    shown = plan_like({"plan": "pro", "address": {"city": "Paris"}, "roles": ["a", "b"], "n": 3})
    assert shown == [("plan", "pro"), ("roles", "a, b"), ("n", "3")]


def test_a_long_plan_like_value_is_cut() -> None:
    [(_, value)] = plan_like({"note": "x" * 100})
    assert len(value) == 40
    assert value.endswith("…")


def test_comparing_two_moments_names_metadata_keys_by_bucket_and_skips_updated_at() -> None:
    before = {"email": "a@x", "updated_at": "1", "app_metadata": {"plan": "free"}}
    after = {"email": "b@x", "updated_at": "2", "app_metadata": {"plan": "pro"}}
    assert profile_changes(before, after) == {
        "email": {"old": "a@x", "new": "b@x"},
        "app_metadata.plan": {"old": "free", "new": "pro"},
    }


def test_the_chart_counts_events_by_minute_oldest_first() -> None:
    times = [NOW, NOW - timedelta(seconds=5), NOW - timedelta(minutes=2), NOW - timedelta(hours=1)]
    chart = per_minute(times, NOW, 30)
    assert len(chart.bars) == 30
    assert chart.total == 3  # the event an hour ago is outside the chart
    assert chart.peak == 2
    assert chart.bars[-1].label == "12:30 UTC: 2 events"
    assert chart.bars[-3].label == "12:28 UTC: 1 event"
    assert chart.bars[-1].height > chart.bars[-3].height > 0 == chart.bars[0].height


def test_an_empty_chart_has_flat_bars() -> None:
    chart = per_minute([], NOW, 30)
    assert chart.peak == 0
    assert all(bar.height == 0 for bar in chart.bars)


def test_an_event_that_changes_no_key_shows_what_it_carries() -> None:
    login = describe(
        "UserLoggedIn",
        4,
        {"timestamp": NOW, "ip": "203.0.113.7", "client_id": "my-spa", "actor": {"kind": "user"}},
    )
    row = timeline_row(login)
    assert row.changes == []
    assert row.details == '{"ip":"203.0.113.7","client_id":"my-spa"}'
