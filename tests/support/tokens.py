"""Tokens made in tests, to hold against the fake Besu's JWT rules: a local RSA key stands in
for the KMS key (``cryptography``, installed with moto), and any header or claim can be set,
so the refusals (another key, expired, no ``exp``, ``alg`` changed) can be made on purpose."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515, section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class LocalSigningKey:
    """An RSA 2048 key pair held in memory (tests only)."""

    private_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    @property
    def public_key_der_base64(self) -> str:
        """What KMS GetPublicKey returns through the CLI: base64 of the SubjectPublicKeyInfo."""
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    @property
    def public_key_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 (KMS RSASSA_PKCS1_V1_5_SHA_256, JWS RS256)."""
        return self.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def token(self, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        """A JWS compact token with ``header`` (default RS256) and ``claims``."""
        head = header if header is not None else {"alg": "RS256", "typ": "JWT"}
        signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}"
        return f"{signing_input}.{b64url(self.sign(signing_input.encode()))}"
