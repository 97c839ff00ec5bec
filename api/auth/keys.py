"""The RS256 signing key: given by environment, or generated once and kept in the data dir."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from jwt.utils import base64url_encode

KEY_FILE = "signing-key.pem"


class SigningKey:
    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self.private_key = private_key
        self.public_key = private_key.public_key()
        self.public_jwk = _public_jwk(self.public_key)
        self.kid = self.public_jwk["kid"]
        # The previous key's, during a rotation: published and accepted, never used to sign.
        self.previous: dict[str, rsa.RSAPublicKey] = {}

    def with_previous(self, public_pem: str | None) -> SigningKey:
        """This key, with the previous one's public key (a PEM) kept beside it."""
        if public_pem:
            key = serialization.load_pem_public_key(public_pem.encode())
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("METALEDGER_PREVIOUS_SIGNING_PUBLIC_KEY must be an RSA public key")
            self.previous[_public_jwk(key)["kid"]] = key
        return self

    def verifying_key(self, kid: object) -> rsa.RSAPublicKey:
        """The public key a token names by its `kid`: the previous one's, else this one."""
        return self.previous.get(kid, self.public_key) if isinstance(kid, str) else self.public_key

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningKey:
        data = pem.encode() if isinstance(pem, str) else pem
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("METALEDGER_SIGNING_KEY must be an RSA private key")
        return cls(key)

    @classmethod
    def load_or_create(cls, data_dir: Path, pem: str | None) -> SigningKey:
        if pem:
            return cls.from_pem(pem)
        path = data_dir / KEY_FILE
        if path.exists():
            return cls.from_pem(path.read_bytes())
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        data_dir.mkdir(parents=True, exist_ok=True)
        encoded = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(encoded)
        return cls(key)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk, *(_public_jwk(key) for key in self.previous.values())]}


def _public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(public_key))
    jwk.update({"kid": _thumbprint(jwk), "alg": "RS256", "use": "sig"})
    return jwk


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint, used as the key id."""
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashes.Hash(hashes.SHA256())
    digest.update(canonical.encode())
    return base64url_encode(digest.finalize()).decode()
