"""The browser protocols over HTTP, without a browser: /authorize and the hosted login page,
the authorization-code grant with PKCE, rotating refresh tokens, implicit and web_message
answers, logout, Lock's login tickets and CORS."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from metaledger.api.auth.browser_grants import CODE, LOGIN_TICKET
from metaledger.api.auth.user_tokens import at_hash
from metaledger.api.bootstrap import Container
from metaledger.domain.actor import Actor
from metaledger.domain.profiles import DEFAULT_CONNECTION, NewUser
from tests.conftest import admin_token
from tests.support.browser_login import (
    APP_ORIGIN,
    CALLBACK,
    HOBBY_CLAIM,
    LOGOUT_URL,
    MAX_ATTEMPTS,
    PASSWORD,
    SPA_CLIENT_ID,
    WEB_CLIENT_ID,
    WEB_CLIENT_SECRET,
    authorize_params,
    hidden_fields,
    pkce,
    post_login,
    redirected,
)
from tests.support.server import RunningServer

ISSUER = "http://metaledger.test/"
SETUP = Actor("client", "setup", "client-credentials", "setup-request")


@pytest.fixture
def email() -> str:
    """An address of the test's own: the tests share one server."""
    return f"jane.{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
def jane(container: Container, email: str) -> str:
    written = container.profiles.create_user(
        NewUser(
            DEFAULT_CONNECTION,
            {"email": email},
            user_metadata={"hobby": "surfing"},
            password=PASSWORD,
        ),
        SETUP,
    )
    return written.user.user_id


def exchange(browser: httpx.Client, code: str, verifier: str, **extra: str) -> httpx.Response:
    return browser.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": SPA_CLIENT_ID,
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": CALLBACK,
            **extra,
        },
    )


def logged_in_code(browser: httpx.Client, email: str) -> tuple[str, str]:
    """A code for the user of `email` through the hosted page, and its PKCE verifier."""
    proof = pkce()
    answer = redirected(post_login(browser, authorize_params(proof.challenge), email))
    return answer["code"], proof.verifier


def claims_of(id_token: str, container: Container) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        id_token,
        container.signing_key.public_key,
        algorithms=["RS256"],
        audience=SPA_CLIENT_ID,
        issuer=ISSUER,
    )
    return claims


def test_the_code_flow_gives_an_id_token_that_passes_the_browser_sdks_checks(
    browser: httpx.Client, container: Container, jane: str, email: str
) -> None:
    code, verifier = logged_in_code(browser, email)
    tokens = exchange(browser, code, verifier).json()
    claims = claims_of(tokens["id_token"], container)
    assert claims["sub"] == jane
    assert claims["azp"] == SPA_CLIENT_ID
    assert claims["nonce"] == "the-nonce"
    assert claims["at_hash"] == at_hash(tokens["access_token"])
    assert claims[HOBBY_CLAIM] == "surfing"
    assert isinstance(claims["exp"], int)
    assert isinstance(claims["iat"], int)


def test_the_login_page_answers_at_the_callback_with_code_and_state(
    browser: httpx.Client, jane: str, email: str
) -> None:
    answer = redirected(post_login(browser, authorize_params(pkce().challenge), email))
    assert answer["state"] == "the-state"
    assert set(answer) == {"code", "state"}


def test_a_hosted_login_records_the_login(
    browser: httpx.Client, container: Container, jane: str, email: str
) -> None:
    logged_in_code(browser, email)
    assert container.profiles.get_user(jane).as_auth0()["logins_count"] == 1


def test_the_session_cookie_is_httponly_and_lax(
    browser: httpx.Client, jane: str, email: str
) -> None:
    response = post_login(browser, authorize_params(pkce().challenge), email)
    cookie = next(
        value
        for value in response.headers.get_list("set-cookie")
        if value.startswith("metaledger_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_a_code_verifier_that_does_not_match_is_refused(
    browser: httpx.Client, jane: str, email: str
) -> None:
    code, _ = logged_in_code(browser, email)
    response = exchange(browser, code, pkce().verifier)
    assert response.status_code == 403
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "Failed to verify code verifier",
    }


def test_a_code_is_redeemed_once(browser: httpx.Client, jane: str, email: str) -> None:
    code, verifier = logged_in_code(browser, email)
    assert exchange(browser, code, verifier).status_code == 200
    again = exchange(browser, code, verifier)
    assert again.status_code == 403
    assert again.json()["error_description"] == "Invalid authorization code"


def test_a_replayed_code_revokes_the_refresh_token_it_gave(
    browser: httpx.Client, jane: str, email: str
) -> None:
    code, verifier = logged_in_code(browser, email)
    refresh_token = exchange(browser, code, verifier).json()["refresh_token"]
    assert exchange(browser, code, verifier).status_code == 403
    response = browser.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "client_id": SPA_CLIENT_ID,
            "refresh_token": refresh_token,
        },
    )
    assert response.status_code == 403


def test_a_code_is_redeemed_only_at_its_redirect_uri(
    browser: httpx.Client, jane: str, email: str
) -> None:
    code, verifier = logged_in_code(browser, email)
    response = exchange(browser, code, verifier, redirect_uri=f"{APP_ORIGIN}/elsewhere")
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_grant"


def test_a_confidential_app_redeems_its_code_only_with_its_secret(
    browser: httpx.Client, jane: str, email: str
) -> None:
    params = {
        "client_id": WEB_CLIENT_ID,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid",
    }
    code = redirected(post_login(browser, params, email))["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    assert (
        browser.post(
            "/oauth/token", data=form, auth=(WEB_CLIENT_ID, "wrong-secret-0123456789")
        ).status_code
        == 401
    )
    response = browser.post("/oauth/token", data=form, auth=(WEB_CLIENT_ID, WEB_CLIENT_SECRET))
    assert response.status_code == 200


def test_a_public_app_must_send_a_pkce_challenge(browser: httpx.Client) -> None:
    params = authorize_params("")
    del params["code_challenge"], params["code_challenge_method"]
    answer = redirected(browser.get("/authorize", params=params))
    assert answer["error"] == "invalid_request"
    assert answer["state"] == "the-state"


def test_an_unregistered_redirect_uri_shows_an_error_page_and_never_redirects(
    browser: httpx.Client,
) -> None:
    params = authorize_params(pkce().challenge, redirect_uri="https://evil.example/steal")
    response = browser.get("/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "is not in the list of allowed callback URLs" in response.text


def test_an_unknown_client_shows_an_error_page(browser: httpx.Client) -> None:
    response = browser.get("/authorize", params=authorize_params("x", client_id="nobody"))
    assert response.status_code == 400
    assert "Unknown client: nobody" in response.text


def test_an_unsupported_response_type_is_answered_at_the_callback(
    browser: httpx.Client,
) -> None:
    params = authorize_params(pkce().challenge, response_type="magic")
    answer = redirected(browser.get("/authorize", params=params))
    assert answer["error"] == "unsupported_response_type"


def test_prompt_none_without_a_session_is_login_required(browser: httpx.Client) -> None:
    params = authorize_params(pkce().challenge, prompt="none")
    answer = redirected(browser.get("/authorize", params=params))
    assert answer == {
        "error": "login_required",
        "error_description": "Login required",
        "state": "the-state",
    }


def test_prompt_none_with_a_session_answers_without_a_page(
    browser: httpx.Client, jane: str, email: str
) -> None:
    logged_in_code(browser, email)
    params = authorize_params(pkce().challenge, prompt="none")
    assert "code" in redirected(browser.get("/authorize", params=params))


def test_silent_authentication_answers_by_web_message_to_the_app_origin(
    browser: httpx.Client, jane: str, email: str
) -> None:
    logged_in_code(browser, email)
    params = authorize_params(pkce().challenge, prompt="none", response_mode="web_message")
    page = browser.get("/authorize", params=params)
    assert page.status_code == 200
    assert "authorization_response" in page.text
    assert f'"{APP_ORIGIN}"' in page.text
    assert re.search(r'"code":"[^"]+"', page.text)


def test_the_implicit_flow_answers_tokens_in_the_fragment(
    browser: httpx.Client, container: Container, jane: str, email: str
) -> None:
    params = authorize_params("", response_type="token id_token")
    del params["code_challenge"], params["code_challenge_method"]
    response = post_login(browser, params, email)
    assert "#" in response.headers["location"]
    answer = redirected(response)
    claims = claims_of(answer["id_token"], container)
    assert claims["at_hash"] == at_hash(answer["access_token"])
    assert answer["token_type"] == "Bearer"


def test_form_post_answers_a_form_that_posts_to_the_callback(
    browser: httpx.Client, jane: str, email: str
) -> None:
    response = post_login(
        browser, authorize_params(pkce().challenge, response_mode="form_post"), email
    )
    assert response.status_code == 200
    assert f'action="{CALLBACK}"' in response.text
    assert 'name="code"' in response.text


def test_a_refresh_token_rotates(browser: httpx.Client, jane: str, email: str) -> None:
    code, verifier = logged_in_code(browser, email)
    first = exchange(browser, code, verifier).json()["refresh_token"]
    response = browser.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "client_id": SPA_CLIENT_ID, "refresh_token": first},
    )
    assert response.status_code == 200
    assert response.json()["refresh_token"] != first
    assert response.json()["access_token"]


def test_a_reused_refresh_token_revokes_its_family(
    browser: httpx.Client, jane: str, email: str
) -> None:
    code, verifier = logged_in_code(browser, email)
    first = exchange(browser, code, verifier).json()["refresh_token"]

    def refresh(token: str) -> httpx.Response:
        return browser.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "client_id": SPA_CLIENT_ID,
                "refresh_token": token,
            },
        )

    second = refresh(first).json()["refresh_token"]
    replay = refresh(first)
    assert replay.status_code == 403
    assert replay.json()["error"] == "invalid_grant"
    assert refresh(second).status_code == 403


def test_a_form_without_its_csrf_token_is_refused(
    browser: httpx.Client, jane: str, email: str
) -> None:
    page = browser.get("/authorize", params=authorize_params(pkce().challenge))
    fields = hidden_fields(page.text)
    del fields["csrf_token"]
    response = browser.post("/u/login", data={**fields, "email": email, "password": PASSWORD})
    assert response.status_code == 403
    assert "The form expired or was not sent from this page" in response.text
    assert "metaledger_session=" not in response.headers.get("set-cookie", "")


def test_a_wrong_password_shows_the_page_again_with_a_message(
    browser: httpx.Client, jane: str, email: str
) -> None:
    response = post_login(browser, authorize_params(pkce().challenge), email, "wrong-password")
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert f'value="{email}"' in response.text


def test_repeated_wrong_passwords_lock_the_account_out(
    browser: httpx.Client, jane: str, email: str
) -> None:
    params = authorize_params(pkce().challenge)
    for _ in range(MAX_ATTEMPTS):
        post_login(browser, params, email, "wrong-password")
    response = post_login(browser, params, email)
    assert response.status_code == 429
    assert "Your account has been blocked after multiple consecutive login attempts." in (
        response.text
    )


def test_signup_keeps_the_configured_fields_in_user_metadata(
    browser: httpx.Client, container: Container, email: str
) -> None:
    page = browser.get(
        "/authorize", params=authorize_params(pkce().challenge, screen_hint="signup")
    )
    assert 'name="hobby"' in page.text
    response = browser.post(
        "/u/signup",
        data={
            **hidden_fields(page.text),
            "email": email,
            "password": PASSWORD,
            "hobby": "chess",
            "level": "pro",
        },
    )
    assert "code" in redirected(response)
    [user] = container.profiles.users_by_email(email)
    assert user.user_metadata == {"hobby": "chess", "level": "pro", "newsletter": "false"}


def test_signup_without_a_required_field_says_which(browser: httpx.Client, email: str) -> None:
    page = browser.get(
        "/authorize", params=authorize_params(pkce().challenge, screen_hint="signup")
    )
    response = browser.post(
        "/u/signup",
        data={**hidden_fields(page.text), "email": email, "password": PASSWORD},
    )
    assert response.status_code == 400
    assert "Hobby is required." in response.text


def test_logout_ends_the_session_and_returns_to_an_allowed_url(
    browser: httpx.Client, jane: str, email: str
) -> None:
    logged_in_code(browser, email)
    response = browser.get(
        "/v2/logout", params={"client_id": SPA_CLIENT_ID, "returnTo": LOGOUT_URL}
    )
    assert response.headers["location"] == LOGOUT_URL
    params = authorize_params(pkce().challenge, prompt="none")
    assert redirected(browser.get("/authorize", params=params))["error"] == "login_required"


def test_logout_refuses_a_return_url_the_app_does_not_allow(browser: httpx.Client) -> None:
    query = urlencode({"client_id": SPA_CLIENT_ID, "returnTo": "https://evil.example/"})
    response = browser.get(f"/v2/logout?{query}")
    assert response.status_code == 400
    assert "location" not in response.headers


def cross_origin_login(
    browser: httpx.Client, email: str, password: str = PASSWORD
) -> httpx.Response:
    return browser.post(
        "/co/authenticate",
        json={
            "client_id": SPA_CLIENT_ID,
            "username": email,
            "password": password,
            "realm": DEFAULT_CONNECTION,
            "credential_type": "http://auth0.com/oauth/grant-type/password-realm",
        },
        headers={"Origin": APP_ORIGIN},
    )


def ticket_params(ticket: str) -> dict[str, str]:
    params = authorize_params("", response_type="token id_token", login_ticket=ticket)
    del params["code_challenge"], params["code_challenge_method"]
    return params


def test_a_login_ticket_is_redeemed_once(browser: httpx.Client, jane: str, email: str) -> None:
    response = cross_origin_login(browser, email)
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    ticket = response.json()["login_ticket"]
    assert "access_token" in redirected(browser.get("/authorize", params=ticket_params(ticket)))
    browser.cookies.clear()
    again = redirected(browser.get("/authorize", params=ticket_params(ticket)))
    assert again["error"] == "access_denied"


def test_a_wrong_password_at_co_authenticate_is_access_denied(
    browser: httpx.Client, jane: str, email: str
) -> None:
    response = cross_origin_login(browser, email, "wrong-password")
    assert response.status_code == 403
    assert response.json() == {
        "error": "access_denied",
        "error_description": "Wrong email or password.",
    }


def test_lock_reads_the_client_configuration_as_jsonp(browser: httpx.Client) -> None:
    response = browser.get(f"/client/{SPA_CLIENT_ID}.js")
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.text.startswith('Auth0.setClient({"id":"hobby-club"')


@pytest.mark.parametrize("path", ["/co/authenticate", "/oauth/token", "/userinfo"])
def test_a_preflight_from_an_allowed_origin_is_granted_with_credentials(
    browser: httpx.Client, path: str
) -> None:
    response = browser.options(
        path,
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "auth0-client,content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "auth0-client" in response.headers["access-control-allow-headers"]


def test_a_preflight_from_another_origin_is_refused(browser: httpx.Client) -> None:
    response = browser.options(
        "/co/authenticate",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_discovery_names_the_browser_endpoints(browser: httpx.Client) -> None:
    document = browser.get("/.well-known/openid-configuration").json()
    assert document["authorization_endpoint"] == f"{ISSUER}authorize"
    assert document["end_session_endpoint"] == f"{ISSUER}v2/logout"
    assert "S256" in document["code_challenge_methods_supported"]


def test_signup_with_a_weak_password_says_what_the_policy_wants(
    browser: httpx.Client, email: str
) -> None:
    page = browser.get(
        "/authorize", params=authorize_params(pkce().challenge, screen_hint="signup")
    )
    response = browser.post(
        "/u/signup",
        data={**hidden_fields(page.text), "email": email, "password": "short", "hobby": "chess"},
    )
    assert response.status_code == 400
    assert "The password is too weak. At least 8 characters in length" in response.text


def test_an_expired_login_ticket_is_refused(
    browser: httpx.Client, container: Container, jane: str
) -> None:
    expired = container.grants.issue(
        LOGIN_TICKET, {"client_id": SPA_CLIENT_ID, "user_id": jane}, seconds=0
    )
    answer = redirected(browser.get("/authorize", params=ticket_params(expired)))
    assert answer["error"] == "access_denied"


def test_an_expired_code_is_refused(browser: httpx.Client, container: Container, jane: str) -> None:
    proof = pkce()
    expired = container.grants.issue(
        CODE,
        {"client_id": SPA_CLIENT_ID, "redirect_uri": CALLBACK, "code_challenge": proof.challenge},
        family="expired-code",
        seconds=0,
    )
    response = exchange(browser, expired, proof.verifier)
    assert response.status_code == 403
    assert response.json()["error_description"] == "Invalid authorization code"


def test_a_refresh_runs_the_rules_again(
    browser: httpx.Client, server: RunningServer, container: Container, jane: str, email: str
) -> None:
    code, verifier = logged_in_code(browser, email)
    refresh_token = exchange(browser, code, verifier).json()["refresh_token"]
    script = (
        "function (user, context, callback) {"
        " context.idToken['https://example.com/protocol'] = context.protocol;"
        " callback(null, user, context); }"
    )
    admin = {"Authorization": f"Bearer {admin_token(server.base_url)}"}
    rule = browser.post("/api/v2/rules", json={"name": "protocol", "script": script}, headers=admin)
    try:
        response = browser.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "client_id": SPA_CLIENT_ID,
                "refresh_token": refresh_token,
            },
        )
        claims = claims_of(response.json()["id_token"], container)
        assert claims["https://example.com/protocol"] == "oauth2-refresh-token"
    finally:
        browser.delete(f"/api/v2/rules/{rule.json()['id']}", headers=admin)
