"""RSA signing keys for the development identity provider, published as a JWKS.

The key lives on disk under the data folder (created on first use, mode 0600) so tokens survive a restart and
several uvicorn workers sign with the same key. ``kid`` is the RFC 7638 thumbprint of the public key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"


@dataclass(frozen=True)
class SigningKey:
    """A private RSA key and its identifier."""

    private_key: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def generate(cls) -> SigningKey:
        return cls.from_private(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def from_private(cls, key: rsa.RSAPrivateKey) -> SigningKey:
        public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        return cls(private_key=key, kid=_thumbprint(public))

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """The key stored at ``path``; a new one is created atomically when the file does not exist."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)  # fails if another worker created it first: keep theirs
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        return cls.from_private(loaded)

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"})


def _thumbprint(jwk: dict[str, Any]) -> str:
    import base64
    import hashlib

    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def jwks(*keys: SigningKey) -> dict[str, Any]:
    """A JSON Web Key Set with the public part of each key."""
    return {"keys": [key.public_jwk() for key in keys]}
