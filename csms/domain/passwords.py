"""Station passwords (OCPP-J security profiles 1 and 2): the rules, the hash, the check.

Used by the registry (registration, import, reset), by the commands (the password a
station receives with ChangeConfiguration AuthorizationKey / SetVariables
BasicAuthPassword) and by the ingress's handshake.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.security import verify_password
from csms.domain.models import Charger

__all__ = [
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "STATION_HASH_SCHEME",
    "check_station_password",
    "generate_station_password",
    "hash_station_password",
    "station_hash_is_legacy",
    "upgrade_station_password",
    "verify_station_password",
]

PASSWORD_MIN, PASSWORD_MAX = 16, 40


def generate_station_password() -> str:
    """A random Basic-auth secret (24 characters, about 143 bits) that passes ``check_station_password``."""
    while True:
        password = secrets.token_urlsafe(18)
        if check_station_password(password) is None:
            return password


# Station passwords are machine secrets (OCPP security profiles 1 and 2: 16 to 40
# characters, meant to be random), checked at every WebSocket handshake. They are
# stored as a salted HMAC-SHA-256 (``hmac-sha256$salt$digest``): a few microseconds
# to verify, so a boot storm of 10,000 stations costs milliseconds instead of the
# ~1,000 CPU-seconds of argon2id (~0.1 s each). A slow hash only pays off for
# low-entropy secrets people remember; ``generate_station_password`` gives ~143
# bits, out of reach of brute force whatever the hash (the same reasoning as the
# SHA-256 of API tokens in ``app.security``). Hashes written before this scheme
# (argon2id) are still accepted and replaced at the station's first successful
# login (``upgrade_station_password``). docs/ocpp.md « Station passwords ».
STATION_HASH_SCHEME = "hmac-sha256"


def _password_bytes(password: str | bytes) -> bytes:
    """A station password as sent in Basic auth: text (UTF-8), or the raw bytes of an OCPP 1.6
    ``AuthorizationKey`` (hex-encoded on the wire, random binary once decoded)."""
    return password if isinstance(password, bytes) else password.encode()


def hash_station_password(password: str | bytes) -> str:
    salt = secrets.token_bytes(16)
    digest = hmac.new(salt, _password_bytes(password), hashlib.sha256).hexdigest()
    return f"{STATION_HASH_SCHEME}${salt.hex()}${digest}"


def station_hash_is_legacy(password_hash: str) -> bool:
    """An argon2id hash from before the HMAC scheme: slow to verify, upgraded at the next login."""
    return not password_hash.startswith(STATION_HASH_SCHEME + "$")


def verify_station_password(password_hash: str, password: str | bytes) -> bool:
    """Constant-time check of a station password; legacy argon2id hashes too (slow: ~0.1 s)."""
    if station_hash_is_legacy(password_hash):
        if isinstance(password, bytes):
            try:
                password = password.decode()
            except UnicodeDecodeError:
                return False  # legacy hashes were made of text passwords only
        return verify_password(password_hash, password)
    _scheme, salt_hex, digest = password_hash.split("$", 2)
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    expected = hmac.new(salt, _password_bytes(password), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest)


async def upgrade_station_password(
    session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, old_hash: str, password: str | bytes
) -> bool:
    """Replace a legacy hash once the password it verified is known (first successful login).

    A plain ``UPDATE`` guarded by the old hash (a password changed meanwhile is left
    alone); not in the audit log, which redacts the column anyway: same secret, new form.
    """
    result = await session.execute(
        update(Charger)
        .where(Charger.tenant_id == tenant_id, Charger.id == charger_id, Charger.password_hash == old_hash)
        .values(password_hash=hash_station_password(password))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def check_station_password(password: str, charge_box_id: str = "") -> str | None:
    """OCPP security profiles 1 and 2: a Basic-auth password of 16 to 40 printable characters."""
    if not PASSWORD_MIN <= len(password or "") <= PASSWORD_MAX:
        return f"Le mot de passe de la borne doit comporter {PASSWORD_MIN} à {PASSWORD_MAX} caractères (OCPP, profils de sécurité 1 et 2)."
    if not all("!" <= char <= "~" for char in password):
        return "Le mot de passe de la borne n'admet que des caractères ASCII imprimables, sans espace."
    if charge_box_id and password.lower() == charge_box_id.lower():
        return "Le mot de passe de la borne ne peut pas être son identifiant."
    if len(set(password)) < 6:
        return "Le mot de passe de la borne est trop répétitif : utilisez un secret aléatoire."
    return None
