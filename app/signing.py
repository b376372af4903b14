"""The instance's signing key (Ed25519) and signed JSON documents: a certificate of destruction (issue 16 §4) is
signed with it so that anyone holding the file can check that this instance issued it and that not a byte changed.

The private key is a PEM file outside any tenant's data: ``Settings.signing_key_file`` (``CENTRALE_SIGNING_KEY_FILE``),
by default ``var/keys/instance-ed25519.pem``; it is generated on first use (mode 0600) and never exported. A signed
document is one JSON file, ``{"document": …, "signature": {"algorithm", "key_id", "public_key", "value"}}``, written
in one canonical rendering (keys sorted, two-space indent, UTF-8, final newline). The signature covers the compact
canonical JSON of ``document``; verification also requires the file to be exactly its canonical rendering, so that
any changed byte — a value, a space, a line end — fails it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.settings import Settings

__all__ = ["ALGORITHM", "Verification", "instance_key", "key_id", "public_key_b64", "render", "sign_document",
           "verify_document"]

ALGORITHM = "Ed25519"


def _key_path(settings: Settings) -> Path:
    return settings.signing_key_file or settings.var_dir / "keys" / "instance-ed25519.pem"


def instance_key(settings: Settings) -> Ed25519PrivateKey:
    """The instance's private key, generated on first use (created exclusively: two processes never write two)."""
    path = _key_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it a moment ago: read its key
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64(settings: Settings) -> str:
    return base64.b64encode(_raw(instance_key(settings).public_key())).decode()


def key_id(public_raw: bytes) -> str:
    """A key's short name: the first 16 hex digits of the SHA-256 of its raw public bytes."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _compact(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def render(signed: dict[str, Any]) -> bytes:
    """The one byte form of a signed document's file."""
    return (json.dumps(signed, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


def sign_document(settings: Settings, document: dict[str, Any]) -> bytes:
    """The file of ``document`` signed with the instance's key."""
    key = instance_key(settings)
    raw = _raw(key.public_key())
    signature = {"algorithm": ALGORITHM, "key_id": key_id(raw), "public_key": base64.b64encode(raw).decode(),
                 "value": base64.b64encode(key.sign(_compact(document))).decode()}
    return render({"document": document, "signature": signature})


class Verification:
    """What checking a signed file found: ``ok``, the reason when not, the key that signed it and whether it is
    this instance's key (``None`` when the instance's key was not consulted)."""

    def __init__(self, ok: bool, reason: str, key: str = "", instance: bool | None = None,
                 document: dict[str, Any] | None = None) -> None:
        self.ok, self.reason, self.key_id, self.instance_key, self.document = ok, reason, key, instance, document


def verify_document(content: bytes, *, expected_public_key: str | None = None) -> Verification:
    """Check a signed file: its form, its signature with the key it names and, given ``expected_public_key``
    (base64), that this key signed it."""
    try:
        signed = json.loads(content.decode())
        document, signature = signed["document"], signed["signature"]
        public_raw = base64.b64decode(signature["public_key"], validate=True)
        value = base64.b64decode(signature["value"], validate=True)
        if set(signed) != {"document", "signature"} or signature.get("algorithm") != ALGORITHM:
            return Verification(False, "format de signature inconnu")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return Verification(False, "fichier illisible : ce n'est pas un document signé")
    if render(signed) != content:
        return Verification(False, "le fichier a été modifié : il n'est plus sous la forme signée")
    if key_id(public_raw) != signature.get("key_id"):
        return Verification(False, "l'identifiant de la clé ne correspond pas à la clé publique")
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(value, _compact(document))
    except (InvalidSignature, ValueError):
        return Verification(False, "signature invalide : le document a été modifié", key_id(public_raw))
    instance = None if expected_public_key is None else base64.b64decode(expected_public_key) == public_raw
    if instance is False:
        return Verification(False, "signature valide, mais d'une autre clé que celle de cette instance",
                            key_id(public_raw), instance, document)
    return Verification(True, "signature valide", key_id(public_raw), instance, document)
