"""Password hashes brought from another system: bcrypt strings (`password_hash`) and Auth0's
`custom_password_hash` objects, checked when imported and verified at login.

An imported hash is stored as it came: a bcrypt or argon2 string as itself, any other algorithm
as `$custom$` followed by the checked object as JSON, so that verifying needs nothing but the
stored value. The primitives are the maintained ones: `bcrypt`, `argon2-cffi` and `hashlib`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Any

import bcrypt
import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

CUSTOM_PREFIX = "$custom$"
ARGON2ID_PREFIX = "$argon2id$"
BCRYPT_PATTERN = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
PBKDF2_PATTERN = re.compile(
    r"^\$pbkdf2-(?P<digest>[a-z0-9-]+)\$i=(?P<iterations>\d+),l=(?P<length>\d+)"
    r"\$(?P<salt>[A-Za-z0-9+/.]*)\$(?P<hash>[A-Za-z0-9+/.]+)$"
)
LDAP_PATTERN = re.compile(r"^\{(?P<scheme>[A-Z0-9]+)\}(?P<value>[A-Za-z0-9+/=]+)$")
ALGORITHMS = (
    "argon2",
    "bcrypt",
    "hmac",
    "ldap",
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "pbkdf2",
    "scrypt",
)
DIGESTS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
# RFC 2307 schemes: the digest, and whether a salt follows the digest in the value.
LDAP_SCHEMES = {
    "MD5": ("md5", False),
    "SMD5": ("md5", True),
    "SHA": ("sha1", False),
    "SSHA": ("sha1", True),
    "SHA256": ("sha256", False),
    "SSHA256": ("sha256", True),
    "SHA384": ("sha384", False),
    "SSHA384": ("sha384", True),
    "SHA512": ("sha512", False),
    "SSHA512": ("sha512", True),
}
VALUE_ENCODINGS = ("base64", "hex", "utf8")
# Node's Buffer encodings, as Auth0 names them, in Python's names.
PASSWORD_ENCODINGS = {
    "ascii": "latin-1",
    "utf8": "utf-8",
    "utf16le": "utf-16-le",
    "ucs2": "utf-16-le",
    "latin1": "latin-1",
    "binary": "latin-1",
}
# scrypt's defaults in Auth0's schema (N, r, p) and the memory it may take to verify.
SCRYPT_DEFAULTS = {"cost": 16384, "blockSize": 8, "parallelization": 1}
SCRYPT_MAX_MEMORY = 256 * 1024 * 1024
MAX_PBKDF2_ITERATIONS = 10_000_000


class HashFormatError(ValueError):
    """An imported hash that breaks Auth0's schema; `path` names the offending field."""

    def __init__(self, code: str, message: str, path: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path


def checked_bcrypt(value: Any, path: str = "password_hash") -> str:
    if not isinstance(value, str) or not BCRYPT_PATTERN.match(value):
        raise HashFormatError(
            "INVALID_FORMAT", f"Object didn't pass validation for format bcrypt: {value}", path
        )
    return value


def checked_custom(spec: Any) -> str:
    """The stored form of an Auth0 `custom_password_hash`, after checking it can be verified."""
    base = "custom_password_hash"
    if not isinstance(spec, dict):
        raise HashFormatError("INVALID_TYPE", "Expected type object", base)
    algorithm = spec.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise HashFormatError(
            "ENUM_MISMATCH", f"No enum match for: {algorithm}", f"{base}.algorithm"
        )
    hashed = spec.get("hash")
    if not isinstance(hashed, dict) or not isinstance(hashed.get("value"), str):
        raise HashFormatError(
            "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: value", f"{base}.hash"
        )
    value: str = hashed["value"]
    if algorithm == "bcrypt":
        return checked_bcrypt(value, f"{base}.hash.value")
    if algorithm == "argon2":
        if not value.startswith(("$argon2id$", "$argon2i$", "$argon2d$")):
            raise _bad_value(base, "argon2", value)
        return value
    if algorithm == "pbkdf2":
        match = PBKDF2_PATTERN.match(value)
        if match is None or match["digest"] not in DIGESTS:
            raise _bad_value(base, "pbkdf2", value)
        if int(match["iterations"]) > MAX_PBKDF2_ITERATIONS:
            raise _bad_value(base, "pbkdf2", value)
    elif algorithm == "ldap":
        match = LDAP_PATTERN.match(value)
        if match is None or match["scheme"] not in LDAP_SCHEMES:
            raise _bad_value(base, "ldap", value)
    else:
        _check_encoded(hashed, f"{base}.hash")
        _check_salt(spec, base, required=algorithm == "scrypt")
        if algorithm == "hmac":
            _check_hmac(hashed, f"{base}.hash")
        if algorithm == "scrypt":
            _check_scrypt(spec, base)
    password = spec.get("password", {})
    if not isinstance(password, dict) or password.get("encoding", "utf8") not in (
        PASSWORD_ENCODINGS
    ):
        raise HashFormatError(
            "ENUM_MISMATCH", "No enum match for: password.encoding", f"{base}.password.encoding"
        )
    return CUSTOM_PREFIX + orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode()


def is_imported(stored: str) -> bool:
    """A hash that is not metaledger's own argon2id: replaced on the next successful login."""
    return not stored.startswith(ARGON2ID_PREFIX)


def verify(stored: str, password: str) -> bool | None:
    """Whether `password` matches an imported hash; None when `stored` is not one (the caller's
    own hasher decides)."""
    if stored.startswith(CUSTOM_PREFIX):
        try:
            spec = orjson.loads(stored[len(CUSTOM_PREFIX) :])
            return _verify_custom(spec, password)
        except (ValueError, KeyError, TypeError, UnicodeError):
            return False
    if BCRYPT_PATTERN.match(stored):
        return _verify_bcrypt(stored, password.encode())
    if stored.startswith(("$argon2i$", "$argon2d$")):
        return _verify_argon2(stored, password.encode())
    return None


def _verify_custom(spec: dict[str, Any], password: str) -> bool:
    algorithm = spec["algorithm"]
    hashed = spec["hash"]
    secret = password.encode(PASSWORD_ENCODINGS[spec.get("password", {}).get("encoding", "utf8")])
    if algorithm == "bcrypt":
        return _verify_bcrypt(hashed["value"], secret)
    if algorithm == "argon2":
        return _verify_argon2(hashed["value"], secret)
    if algorithm == "pbkdf2":
        return _verify_pbkdf2(hashed["value"], secret)
    if algorithm == "ldap":
        return _verify_ldap(hashed["value"], secret)
    expected = _decode(hashed["value"], hashed.get("encoding", "hex"))
    salt_spec = spec.get("salt")
    salt = _decode(salt_spec["value"], salt_spec.get("encoding", "utf8")) if salt_spec else b""
    if algorithm == "scrypt":
        n, r, p = (spec.get(name, default) for name, default in SCRYPT_DEFAULTS.items())
        keylen = spec.get("keylen", len(expected))
        actual = hashlib.scrypt(
            secret, salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAX_MEMORY, dklen=keylen
        )
        return hmac.compare_digest(actual, expected)
    salted = _salted(secret, salt, salt_spec.get("position", "prefix") if salt_spec else "prefix")
    if algorithm == "hmac":
        key = _decode(hashed["key"]["value"], hashed["key"].get("encoding", "utf8"))
        actual = hmac.new(key, salted, hashed["digest"]).digest()
    else:
        actual = hashlib.new(algorithm, salted).digest()
    return hmac.compare_digest(actual, expected)


def _verify_bcrypt(stored: str, secret: bytes) -> bool:
    # bcrypt reads at most 72 bytes; the library refuses longer input rather than cut it.
    try:
        return bcrypt.checkpw(secret[:72], stored.encode())
    except ValueError:
        return False


def _verify_argon2(stored: str, secret: bytes) -> bool:
    try:
        return PasswordHasher().verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False


def _verify_pbkdf2(value: str, secret: bytes) -> bool:
    match = PBKDF2_PATTERN.match(value)
    if match is None:
        return False
    salt, expected = _b64(match["salt"]), _b64(match["hash"])
    actual = hashlib.pbkdf2_hmac(
        match["digest"], secret, salt, int(match["iterations"]), int(match["length"])
    )
    return hmac.compare_digest(actual, expected)


def _verify_ldap(value: str, secret: bytes) -> bool:
    match = LDAP_PATTERN.match(value)
    if match is None:
        return False
    digest, salted = LDAP_SCHEMES[match["scheme"]]
    raw = base64.b64decode(match["value"])
    size = hashlib.new(digest).digest_size
    expected, salt = (raw[:size], raw[size:]) if salted else (raw, b"")
    return hmac.compare_digest(hashlib.new(digest, secret + salt).digest(), expected)


def _salted(secret: bytes, salt: bytes, position: str) -> bytes:
    return salt + secret if position == "prefix" else secret + salt


def _b64(text: str) -> bytes:
    """PHC strings use standard base64 without padding (passlib's variant writes `.` for `+`)."""
    text = text.replace(".", "+")
    return base64.b64decode(text + "=" * (-len(text) % 4))


DECODERS: dict[str, Callable[[str], bytes]] = {
    "base64": base64.b64decode,
    "hex": bytes.fromhex,
    "utf8": str.encode,
}


def _decode(value: str, encoding: str) -> bytes:
    return DECODERS[encoding](value)


def _bad_value(base: str, algorithm: str, value: str) -> HashFormatError:
    return HashFormatError(
        "INVALID_FORMAT",
        f"Object didn't pass validation for format {algorithm}: {value}",
        f"{base}.hash.value",
    )


def _check_encoded(part: dict[str, Any], path: str) -> None:
    encoding = part.get("encoding", "hex")
    if encoding not in VALUE_ENCODINGS:
        raise HashFormatError("ENUM_MISMATCH", f"No enum match for: {encoding}", f"{path}.encoding")
    try:
        _decode(part["value"], encoding)
    except (ValueError, binascii.Error):
        raise HashFormatError(
            "INVALID_FORMAT", f"The value is not valid {encoding}", f"{path}.value"
        ) from None


def _check_salt(spec: dict[str, Any], base: str, required: bool) -> None:
    salt = spec.get("salt")
    if salt is None:
        if required:
            raise HashFormatError(
                "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: salt", base
            )
        return
    if not isinstance(salt, dict) or not isinstance(salt.get("value"), str):
        raise HashFormatError(
            "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: value", f"{base}.salt"
        )
    if salt.get("position", "prefix") not in ("prefix", "suffix"):
        raise HashFormatError(
            "ENUM_MISMATCH", f"No enum match for: {salt['position']}", f"{base}.salt.position"
        )
    _check_encoded({"encoding": "utf8", **salt}, f"{base}.salt")


def _check_hmac(hashed: dict[str, Any], path: str) -> None:
    if hashed.get("digest") not in DIGESTS:
        raise HashFormatError(
            "ENUM_MISMATCH", f"No enum match for: {hashed.get('digest')}", f"{path}.digest"
        )
    key = hashed.get("key")
    if not isinstance(key, dict) or not isinstance(key.get("value"), str):
        raise HashFormatError(
            "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: key", path
        )
    _check_encoded({"encoding": "utf8", **key}, f"{path}.key")


def _check_scrypt(spec: dict[str, Any], base: str) -> None:
    for name, default in (*SCRYPT_DEFAULTS.items(), ("keylen", 64)):
        value = spec.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise HashFormatError("INVALID_TYPE", "Expected a positive integer", f"{base}.{name}")
    n, r = spec.get("cost", 16384), spec.get("blockSize", 8)
    if n & (n - 1) or 128 * r * n > SCRYPT_MAX_MEMORY:
        raise HashFormatError(
            "INVALID_FORMAT", "scrypt cost must be a power of 2 within 256 MiB", f"{base}.cost"
        )
