"""UserLoggedIn: the login attributes of the Auth0 user object come from these events."""

from __future__ import annotations

from metaledger.domain.user import User, format_timestamp

ACTOR = {"kind": "user", "id": "auth0|abc"}


def new_user() -> User:
    return User(
        user_id="auth0|abc",
        connection="Username-Password-Authentication",
        profile={"email": "ada@example.com"},
        user_metadata={},
        app_metadata={},
        actor=ACTOR,
    )


def test_a_new_user_has_never_logged_in() -> None:
    shown = new_user().as_auth0()
    assert shown["logins_count"] == 0
    assert "last_login" not in shown
    assert "last_ip" not in shown


def test_a_login_sets_last_login_last_ip_and_counts() -> None:
    user = new_user()
    user.record_login("192.0.2.1", "spa", ACTOR)
    [event] = user.collect_events()[1:]
    shown = user.as_auth0()
    assert shown["logins_count"] == 1
    assert shown["last_ip"] == "192.0.2.1"
    assert shown["last_login"] == format_timestamp(event.timestamp)


def test_logins_count_adds_up_and_last_ip_follows_the_latest() -> None:
    user = new_user()
    user.record_login("192.0.2.1", "spa", ACTOR)
    user.record_login("192.0.2.2", "spa", ACTOR)
    assert (user.logins_count, user.last_ip) == (2, "192.0.2.2")


def test_the_login_event_names_the_application_and_the_actor() -> None:
    user = new_user()
    user.record_login(None, "spa", ACTOR)
    [event] = user.collect_events()[1:]
    assert isinstance(event, User.UserLoggedIn)
    assert (event.client_id, event.ip, event.actor) == ("spa", None, ACTOR)
