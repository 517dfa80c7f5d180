"""Ed25519 signatures of certificate payloads, keys from settings, rotation by key id.

The pattern of the EU Digital COVID Certificate: the payload names the id of the key that signed
it (``kid``), and verifiers keep every public key still trusted, so a certificate signed before a
key rotation verifies by its ``kid`` as long as the old public key stays listed.

Settings (from the environment, ``chemearth/settings.py``):
``CERTIFICATE_SIGNING_KEY`` = ``<kid>:<base64 of the 32-byte raw private key>`` signs new
certificates; ``CERTIFICATE_VERIFY_KEYS`` = ``<kid>:<base64 raw public key>,…`` are the retired
keys still trusted. Without a signing key outside production a development key is derived from
``SECRET_KEY`` (its kid starts ``dev-``); production refuses to issue until one is set.
``manage.py certificate_keygen`` prints a new pair.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SigningUnavailable(ImproperlyConfigured):
    """No signing key is configured (production without ``CERTIFICATE_SIGNING_KEY``)."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


def canonical(payload: dict) -> str:
    """The one text a payload is signed as: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64(text: str) -> bytes:
    return base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), validate=False)


def _pair(item: str, name: str) -> tuple[str, bytes]:
    kid, sep, key = item.strip().partition(":")
    raw = _b64(key) if sep else b""
    if not kid or len(raw) != 32:
        raise ImproperlyConfigured(f"{name}: expected '<kid>:<base64 of 32 bytes>', got {item!r}")
    return kid, raw


def signing_key() -> SigningKey:
    """The key new certificates are signed with."""
    configured = getattr(settings, "CERTIFICATE_SIGNING_KEY", "")
    if configured:
        kid, raw = _pair(configured, "CERTIFICATE_SIGNING_KEY")
        return SigningKey(kid, Ed25519PrivateKey.from_private_bytes(raw))
    if getattr(settings, "PRODUCTION", False):
        raise SigningUnavailable("CERTIFICATE_SIGNING_KEY is not set: no certificate is issued")
    # A development key: reproducible per deployment, worthless elsewhere (the secret is the
    # demo's own) and named so that nobody mistakes it for a production key.
    seed = hashlib.sha256(f"chemearth-dev-certificates:{settings.SECRET_KEY}".encode()).digest()
    private = Ed25519PrivateKey.from_private_bytes(seed)
    kid = "dev-" + hashlib.sha256(public_raw(private.public_key())).hexdigest()[:8]
    return SigningKey(kid, private)


def trusted_keys() -> dict[str, Ed25519PublicKey]:
    """Every public key a certificate may have been signed with, by kid: the current signing
    key's and the retired ones of ``CERTIFICATE_VERIFY_KEYS``."""
    keys = {}
    for item in getattr(settings, "CERTIFICATE_VERIFY_KEYS", []):
        kid, raw = _pair(item, "CERTIFICATE_VERIFY_KEYS")
        keys[kid] = Ed25519PublicKey.from_public_bytes(raw)
    try:
        current = signing_key()
    except SigningUnavailable:
        return keys
    keys[current.kid] = current.public
    return keys


def sign(payload_text: str, key: SigningKey) -> str:
    return base64.b64encode(key.private.sign(payload_text.encode("utf-8"))).decode("ascii")


def verify(payload_text: str, signature: str) -> tuple[bool, str]:
    """Whether ``signature`` is a trusted key's signature of ``payload_text``, found by the
    ``kid`` inside the payload; with the reason when not."""
    try:
        kid = json.loads(payload_text)["kid"]
    except (ValueError, KeyError, TypeError):
        return False, "the payload is not a certificate"
    key = trusted_keys().get(kid)
    if key is None:
        return False, f"unknown key {kid!r}"
    try:
        key.verify(base64.b64decode(signature), payload_text.encode("utf-8"))
    except (InvalidSignature, ValueError):
        return False, "the signature does not match the content"
    return True, ""


def new_key_pair(kid: str) -> tuple[str, str]:
    """(``CERTIFICATE_SIGNING_KEY`` value, the public part for ``CERTIFICATE_VERIFY_KEYS``)."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = public_raw(private.public_key())
    return (
        f"{kid}:{base64.b64encode(raw).decode()}",
        f"{kid}:{base64.b64encode(public).decode()}",
    )
