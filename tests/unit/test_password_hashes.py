"""Imported password hashes: every algorithm of Auth0's `custom_password_hash` and bcrypt's
`password_hash` verifies the right password and refuses a wrong one. Vectors are made with the
same libraries here, and a few are published ones (RFCs, the OpenBSD bcrypt suite)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import bcrypt
import pytest
from argon2 import PasswordHasher

from metaledger.api.auth.passwords import Passwords
from metaledger.domain import password_hashes
from metaledger.domain.password_hashes import HashFormatError

PASSWORD = "correct horse battery staple"
LOGIN_PASSWORDS = Passwords(time_cost=1, memory_cost_kib=1024, parallelism=1)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def phc_b64(data: bytes) -> str:
    return b64(data).rstrip("=")


def verifies(spec: dict[str, Any], password: str) -> bool:
    """Through the login path's verifier, which leaves argon2id hashes to argon2-cffi."""
    return LOGIN_PASSWORDS.verify(password_hashes.checked_custom(spec), password)


def digest_spec(algorithm: str, salt: bytes, position: str, encoding: str) -> dict[str, Any]:
    salted = salt + PASSWORD.encode() if position == "prefix" else PASSWORD.encode() + salt
    raw = hashlib.new(algorithm, salted).digest()
    value = raw.hex() if encoding == "hex" else b64(raw)
    return {
        "algorithm": algorithm,
        "hash": {"value": value, "encoding": encoding},
        "salt": {"value": b64(salt), "encoding": "base64", "position": position},
    }


LIBRARY_MADE: dict[str, dict[str, Any]] = {
    "bcrypt": {
        "algorithm": "bcrypt",
        "hash": {"value": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()},
    },
    "argon2": {
        "algorithm": "argon2",
        "hash": {"value": PasswordHasher(time_cost=1, memory_cost=1024).hash(PASSWORD)},
    },
    "pbkdf2": {
        "algorithm": "pbkdf2",
        "hash": {
            "value": f"$pbkdf2-sha512$i=1000,l=64${phc_b64(b'pepper-salt')}$"
            + phc_b64(hashlib.pbkdf2_hmac("sha512", PASSWORD.encode(), b"pepper-salt", 1000))
        },
    },
    "scrypt": {
        "algorithm": "scrypt",
        "hash": {
            "value": hashlib.scrypt(PASSWORD.encode(), salt=b"NaCl", n=1024, r=8, p=1).hex(),
            "encoding": "hex",
        },
        "salt": {"value": "NaCl", "encoding": "utf8"},
        "keylen": 64,
        "cost": 1024,
    },
    "md5": digest_spec("md5", b"s4lt", "prefix", "hex"),
    "sha1": digest_spec("sha1", b"s4lt", "suffix", "base64"),
    "sha256": digest_spec("sha256", b"\x00\xffbinary", "prefix", "base64"),
    "sha512": digest_spec("sha512", b"s4lt", "suffix", "hex"),
    "hmac": {
        "algorithm": "hmac",
        "hash": {
            "value": hmac.new(b"k3y", b"s4lt" + PASSWORD.encode(), "sha256").hexdigest(),
            "encoding": "hex",
            "digest": "sha256",
            "key": {"value": "k3y", "encoding": "utf8"},
        },
        "salt": {"value": "s4lt", "encoding": "utf8", "position": "prefix"},
    },
    "ldap": {
        "algorithm": "ldap",
        "hash": {
            "value": "{SSHA}" + b64(hashlib.sha1(PASSWORD.encode() + b"salt").digest() + b"salt")
        },
    },
}


@pytest.mark.parametrize("algorithm", sorted(LIBRARY_MADE))
def test_each_algorithm_verifies_the_password_it_was_made_from(algorithm: str) -> None:
    assert verifies(LIBRARY_MADE[algorithm], PASSWORD)


@pytest.mark.parametrize("algorithm", sorted(LIBRARY_MADE))
def test_each_algorithm_refuses_a_wrong_password(algorithm: str) -> None:
    assert not verifies(LIBRARY_MADE[algorithm], PASSWORD + "!")


PUBLISHED: list[tuple[str, dict[str, Any], str]] = [
    (
        "OpenBSD bcrypt suite",
        {
            "algorithm": "bcrypt",
            "hash": {"value": "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
        },
        "U*U",
    ),
    (
        "RFC 6070 PBKDF2-HMAC-SHA1, 2 iterations",
        {
            "algorithm": "pbkdf2",
            "hash": {
                "value": "$pbkdf2-sha1$i=2,l=20$c2FsdA$"
                + phc_b64(bytes.fromhex("ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"))
            },
        },
        "password",
    ),
    (
        "RFC 7914 scrypt, N=1024 r=8 p=16",
        {
            "algorithm": "scrypt",
            "hash": {
                "value": "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
                "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
                "encoding": "hex",
            },
            "salt": {"value": "NaCl", "encoding": "utf8"},
            "keylen": 64,
            "cost": 1024,
            "blockSize": 8,
            "parallelization": 16,
        },
        "password",
    ),
    (
        "RFC 4231 HMAC-SHA256 test case 2",
        {
            "algorithm": "hmac",
            "hash": {
                "value": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                "encoding": "hex",
                "digest": "sha256",
                "key": {"value": "Jefe", "encoding": "utf8"},
            },
        },
        "what do ya want for nothing?",
    ),
    (
        "FIPS 180 SHA-1 of abc",
        {
            "algorithm": "sha1",
            "hash": {"value": "a9993e364706816aba3e25717850c26c9cd0d89d", "encoding": "hex"},
        },
        "abc",
    ),
    (
        "RFC 1321 MD5 of abc",
        {
            "algorithm": "md5",
            "hash": {"value": "900150983cd24fb0d6963f7d28e17f72", "encoding": "hex"},
        },
        "abc",
    ),
    (
        "LDAP {SHA} of password",
        {"algorithm": "ldap", "hash": {"value": "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="}},
        "password",
    ),
]


@pytest.mark.parametrize(("source", "spec", "password"), PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_published_vectors_verify(source: str, spec: dict[str, Any], password: str) -> None:
    assert verifies(spec, password)


def test_a_utf16le_password_encoding_hashes_the_password_as_utf16() -> None:
    spec = {
        "algorithm": "sha256",
        "hash": {"value": hashlib.sha256(PASSWORD.encode("utf-16-le")).hexdigest()},
        "password": {"encoding": "utf16le"},
    }
    assert verifies(spec, PASSWORD)


def test_a_bcrypt_password_hash_is_stored_as_itself_and_verifies() -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    stored = password_hashes.checked_bcrypt(hashed)
    assert stored == hashed
    assert password_hashes.verify(stored, PASSWORD) is True
    assert password_hashes.is_imported(stored)


def test_metaledgers_own_argon2id_hash_is_left_to_its_hasher() -> None:
    own = PasswordHasher(time_cost=1, memory_cost=1024).hash(PASSWORD)
    assert password_hashes.verify(own, PASSWORD) is None
    assert not password_hashes.is_imported(own)


@pytest.mark.parametrize(
    ("spec", "code", "path"),
    [
        ({"algorithm": "rot13", "hash": {"value": "x"}}, "ENUM_MISMATCH", "algorithm"),
        ({"algorithm": "sha1"}, "OBJECT_MISSING_REQUIRED_PROPERTY", "hash"),
        ({"algorithm": "bcrypt", "hash": {"value": "$2b$nope"}}, "INVALID_FORMAT", "hash.value"),
        ({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2$x"}}, "INVALID_FORMAT", "hash.value"),
        ({"algorithm": "ldap", "hash": {"value": "{CRYPT}abc"}}, "INVALID_FORMAT", "hash.value"),
        (
            {"algorithm": "md5", "hash": {"value": "zz", "encoding": "hex"}},
            "INVALID_FORMAT",
            "hash.value",
        ),
        (
            {"algorithm": "sha1", "hash": {"value": "00", "encoding": "rot13"}},
            "ENUM_MISMATCH",
            "hash.encoding",
        ),
        (
            {"algorithm": "hmac", "hash": {"value": "00", "digest": "sha256"}},
            "OBJECT_MISSING_REQUIRED_PROPERTY",
            "hash",
        ),
        (
            {"algorithm": "scrypt", "hash": {"value": "00"}},
            "OBJECT_MISSING_REQUIRED_PROPERTY",
            "",
        ),
        (
            {"algorithm": "scrypt", "hash": {"value": "00"}, "salt": {"value": "s"}, "cost": 3},
            "INVALID_FORMAT",
            "cost",
        ),
        (
            {"algorithm": "sha1", "hash": {"value": "00"}, "password": {"encoding": "ebcdic"}},
            "ENUM_MISMATCH",
            "password.encoding",
        ),
    ],
)
def test_a_hash_that_cannot_be_verified_is_refused_naming_its_field(
    spec: dict[str, Any], code: str, path: str
) -> None:
    with pytest.raises(HashFormatError) as refused:
        password_hashes.checked_custom(spec)
    assert refused.value.code == code
    assert refused.value.path == ".".join(p for p in ("custom_password_hash", path) if p)
