"""Password hashing (argon2id) and opaque secrets (API and reset tokens, SHA-256 at rest)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "PRODUCTION_HASHER",
    "hash_password",
    "hash_token",
    "new_token",
    "password_problem",
    "use_password_hasher",
    "verify_password",
]

#: argon2id, the library's defaults (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4).
PRODUCTION_HASHER = PasswordHasher()
_hasher = PRODUCTION_HASHER


def use_password_hasher(hasher: PasswordHasher) -> None:
    """The argon2id parameters of the hashes this process makes from now on. Only the test suite calls it
    (tests/conftest.py: the library's cheapest profile, ~0.1 ms instead of 0.13 s idle and 0.4 s on a loaded
    two-core runner); a verification reads the parameters from the stored hash, so hashes of either profile
    keep verifying."""
    global _hasher
    _hasher = hasher
    _dummy_hash.cache_clear()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so timing does not reveal it. Made on first use, not at
    import: one argon2id hash takes 64 MiB (the profile's memory cost), which every process importing this module
    (a job worker making a report) would otherwise carry in its peak memory."""
    return _hasher.hash("centrale-dummy-password")

MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """French message when a new password is too weak (ANSSI: length first)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Le mot de passe doit comporter au moins {MIN_PASSWORD_LENGTH} caractères."
    if password.isdigit() or password.isalpha():
        return "Le mot de passe doit mêler lettres et chiffres ou symboles."
    return None


def new_token(prefix: str) -> tuple[str, str, str]:
    """A 256-bit token ``{prefix}_{lookup}_{secret}``: returns (token, lookup prefix, hash)."""
    lookup = secrets.token_hex(4)
    token = f"{prefix}_{lookup}_{secrets.token_urlsafe(32)}"
    return token, lookup, hash_token(token)


def hash_token(token: str) -> str:
    # High-entropy secrets need no slow hash; a plain SHA-256 makes lookups O(1).
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
