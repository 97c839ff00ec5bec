"""A node that joins a cluster: the secrets it must share, its name, the single-node lock on
SQLite files, and the previous signing key kept during a rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from metaledger.api.auth.keys import SigningKey
from metaledger.api.auth.tokens import InvalidTokenError, TokenService
from metaledger.api.cluster import NodeRefused, check_shared_secrets, node_name, single_node
from metaledger.api.settings import Settings

ISSUER = "http://metaledger.test/"
AUDIENCE = f"{ISSUER}api/v2/"
URL = "postgresql://postgres@127.0.0.1:5432/metaledger"


def new_key() -> SigningKey:
    return SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def public_pem(key: SigningKey) -> str:
    return key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def issue(key: SigningKey) -> str:
    return TokenService(key, ISSUER, 600).issue(
        sub="c@clients", audience=AUDIENCE, scopes=["read:users"], client_id="c", grant="g"
    )


def test_cluster_mode_refuses_to_start_without_the_shared_secrets_naming_each() -> None:
    settings = Settings(cluster=True, database_url=URL)
    with pytest.raises(NodeRefused) as refused:
        check_shared_secrets(settings)
    message = str(refused.value)
    for variable in (
        "METALEDGER_SIGNING_KEY",
        "METALEDGER_ADMIN_CLIENT_ID",
        "METALEDGER_ADMIN_CLIENT_SECRET",
    ):
        assert variable in message


def test_cluster_mode_refuses_sqlite() -> None:
    settings = Settings(
        cluster=True, signing_key_pem="pem", admin_client_id="a", admin_client_secret="s"
    )
    with pytest.raises(NodeRefused, match="METALEDGER_DATABASE_URL"):
        check_shared_secrets(settings)


def test_cluster_mode_with_every_shared_secret_starts() -> None:
    check_shared_secrets(
        Settings(
            cluster=True,
            database_url=URL,
            signing_key_pem="pem",
            admin_client_id="a",
            admin_client_secret="s",
        )
    )


def test_a_node_is_named_by_its_setting_else_by_host_and_port() -> None:
    assert node_name(Settings(node_name="eu-1")) == "eu-1"
    assert node_name(Settings(port=8123)).endswith(":8123")


def test_a_second_node_on_the_same_sqlite_files_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with (
        single_node(settings),
        pytest.raises(NodeRefused, match="SQLite serves one node"),
        single_node(settings),
    ):
        pass
    with single_node(settings):  # released with the first node
        pass


def test_the_jwks_carries_the_previous_key_during_a_rotation() -> None:
    previous, current = new_key(), new_key()
    rotated = current.with_previous(public_pem(previous))
    assert [key["kid"] for key in rotated.jwks()["keys"]] == [current.kid, previous.kid]


def test_a_token_signed_by_the_previous_key_is_accepted_during_a_rotation() -> None:
    previous, current = new_key(), new_key()
    token = issue(previous)
    service = TokenService(current.with_previous(public_pem(previous)), ISSUER, 600)
    assert service.verify(token, AUDIENCE).sub == "c@clients"


def test_a_token_of_an_unknown_key_is_refused() -> None:
    service = TokenService(new_key(), ISSUER, 600)
    with pytest.raises(InvalidTokenError, match="Invalid signature"):
        service.verify(issue(new_key()), AUDIENCE)
