"""Typed settings, read once from ``CENTRALE_*`` environment variables.

Nothing reads settings at import time: ``Settings.from_env()`` is called by the CLI
and the result is handed to ``create_app(settings)`` and to the services.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

__all__ = ["Settings", "SettingsError"]


class SettingsError(RuntimeError):
    """A setting is missing or malformed."""


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on", "oui"}


@dataclass(frozen=True)
class Settings:
    #: Application database (the role it connects as must not own the tables on PostgreSQL).
    database_url: str = "sqlite+aiosqlite:///var/centrale.db"
    #: Database used by ``centrale db upgrade`` (owner of the tables); defaults to ``database_url``.
    database_admin_url: str = ""
    #: PostgreSQL role the application connects as; migrations grant it table rights.
    database_app_role: str = "centrale_app"
    #: Empty: embedded bus and jobs (one process). Set: Redis bus, dramatiq broker, sessions.
    redis_url: str = ""
    #: Prefix of every Redis key and channel (bus, jobs), so that deployments can share a Redis.
    redis_namespace: str = "centrale"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = 9000
    #: Public base URL used in e-mails and OIDC redirects.
    public_url: str = ""
    secret_key: str = ""
    var_dir: Path = field(default_factory=lambda: Path("var"))
    #: Cookies get the Secure flag; on by default in scaled mode.
    secure_cookies: bool = False
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    mail_from: str = "Centrale <ne-pas-repondre@centrale.local>"
    #: Failed logins allowed per account within ``login_window_seconds``.
    login_max_failures: int = 5
    #: Failed logins allowed per client address within the same window: much higher, since a
    #: whole hospital may sit behind one public address (docs/security.md « Connexion »).
    login_max_failures_per_address: int = 100
    login_window_seconds: int = 900
    session_max_age: int = 8 * 3600
    #: Reverse proxies whose ``X-Forwarded-For`` is believed (addresses or CIDR blocks); none by default.
    trusted_proxies: tuple[str, ...] = ()
    #: A charger whose socket has been down this long opens an « offline » alert (CCTP CPAM 5-5-4).
    ocpp_offline_alert_minutes: int = 15
    #: Seconds between the ingress's WebSocket pings to a station (and the wait for its pong): a
    #: silently dead socket is closed within twice this. 10,000 stations at 20 s cost 500 pings a
    #: second, 4 % of the ingress's CPU (docs/ocpp.md); well under the offline alert's 15 minutes.
    ocpp_ping_interval: float = 60.0
    #: TLS proxies in front of the ingress (addresses or CIDR blocks) whose ``X-Forwarded-Proto``,
    #: ``X-Client-Verify`` and ``X-Client-Cert`` headers are believed: OCPP security profiles 2 and 3
    #: (docs/ocpp.md « Security profiles »). None by default: then only profile 1 stations connect.
    ocpp_trusted_proxies: tuple[str, ...] = ()
    #: The certificate authority that signs the stations' CSRs (SignCertificate → CertificateSigned): its
    #: certificate (PEM, the CA first, then any issuers above it) and its private key (PEM or DER), both or
    #: neither; ``ocpp_ca_key_password`` for an encrypted key. Neither: an in-memory CA, for the demo and the
    #: tests (csms.domain.certificates; docs/ocpp.md « Station certificates »).
    ocpp_ca_cert_file: Path | None = None
    ocpp_ca_key_file: Path | None = None
    ocpp_ca_key_password: str = field(default="", repr=False)
    #: Milliseconds a small group commit of the ingress waits for more units (csms.domain.writer): less CPU
    #: per message, that much more latency per answer. Measured in docs/ocpp.md « Figures ».
    ocpp_writer_linger_ms: float = 0.0
    #: Embedded mode: the web process runs the outbox relay (app.outbox). Off only to leave the events
    #: committed by this process to another relay (``centrale outbox relay``; the crash tests).
    outbox_relay: bool = True
    #: The web process runs the scheduler of the components' periodic jobs (app.schedule). Off in tests
    #: that drive the jobs themselves; on in every process of a deployment (a schedule fires once).
    scheduler: bool = True
    #: ``centrale demo load`` includes the ordering demo (quotes, orders, slips, maintenance: ``catalog/demo.py``).
    #: Off in the tests' shared demo template, whose scenarios start from beneficiaries that have ordered nothing.
    demo_ordering: bool = True
    #: The instance's Ed25519 signing key (certificates of destruction, ``app.signing``): a PEM file kept outside
    #: any tenant's data; empty: ``var/keys/instance-ed25519.pem``, generated on first use.
    signing_key_file: Path | None = None
    #: Days a backup is kept before it is overwritten: a destroyed tenant's data is gone from the backups that
    #: many days after its destruction (stated in the certificate, docs/reversibility.md « Destruction »).
    backup_retention_days: int = 35
    debug: bool = False

    @property
    def embedded(self) -> bool:
        return not self.redis_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    @cached_property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)

    @cached_property
    def ocpp_trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(p, strict=False) for p in self.ocpp_trusted_proxies)

    @property
    def admin_url(self) -> str:
        return self.database_admin_url or self.database_url

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)

        def get(name: str, default: str = "") -> str:
            return env.get(f"CENTRALE_{name}", default)

        base = cls()
        try:
            settings = cls(
                database_url=get("DATABASE_URL", base.database_url),
                database_admin_url=get("DATABASE_ADMIN_URL"),
                database_app_role=get("DATABASE_APP_ROLE", base.database_app_role),
                redis_url=get("REDIS_URL"),
                redis_namespace=get("REDIS_NAMESPACE", base.redis_namespace),
                http_host=get("HTTP_HOST", base.http_host),
                http_port=int(get("HTTP_PORT", str(base.http_port))),
                ocpp_host=get("OCPP_HOST", base.ocpp_host),
                ocpp_port=int(get("OCPP_PORT", str(base.ocpp_port))),
                public_url=get("PUBLIC_URL"),
                secret_key=get("SECRET_KEY"),
                var_dir=Path(get("VAR_DIR", "var")),
                secure_cookies=_bool(get("SECURE_COOKIES", "true" if get("REDIS_URL") else "false")),
                smtp_host=get("SMTP_HOST"),
                smtp_port=int(get("SMTP_PORT", "587")),
                smtp_user=get("SMTP_USER"),
                smtp_password=get("SMTP_PASSWORD"),
                smtp_starttls=_bool(get("SMTP_STARTTLS", "true")),
                mail_from=get("MAIL_FROM", base.mail_from),
                login_max_failures=int(get("LOGIN_MAX_FAILURES", "5")),
                login_max_failures_per_address=int(get("LOGIN_MAX_FAILURES_PER_ADDRESS", "100")),
                login_window_seconds=int(get("LOGIN_WINDOW_SECONDS", "900")),
                session_max_age=int(get("SESSION_MAX_AGE", str(base.session_max_age))),
                trusted_proxies=tuple(p.strip() for p in get("TRUSTED_PROXIES").split(",") if p.strip()),
                ocpp_offline_alert_minutes=int(get("OCPP_OFFLINE_ALERT_MINUTES", str(base.ocpp_offline_alert_minutes))),
                ocpp_ping_interval=float(get("OCPP_PING_INTERVAL", str(base.ocpp_ping_interval))),
                ocpp_writer_linger_ms=float(get("OCPP_WRITER_LINGER_MS", str(base.ocpp_writer_linger_ms))),
                ocpp_trusted_proxies=tuple(p.strip() for p in get("OCPP_TRUSTED_PROXIES").split(",") if p.strip()),
                ocpp_ca_cert_file=Path(get("OCPP_CA_CERT_FILE")) if get("OCPP_CA_CERT_FILE") else None,
                ocpp_ca_key_file=Path(get("OCPP_CA_KEY_FILE")) if get("OCPP_CA_KEY_FILE") else None,
                ocpp_ca_key_password=get("OCPP_CA_KEY_PASSWORD"),
                outbox_relay=_bool(get("OUTBOX_RELAY", "true")),
                scheduler=_bool(get("SCHEDULER", "true")),
                demo_ordering=_bool(get("DEMO_ORDERING", "true")),
                signing_key_file=Path(get("SIGNING_KEY_FILE")) if get("SIGNING_KEY_FILE") else None,
                backup_retention_days=int(get("BACKUP_RETENTION_DAYS", str(base.backup_retention_days))),
                debug=_bool(get("DEBUG", "false")),
            )
            settings.trusted_proxy_networks  # noqa: B018 - validated here, not at the first request
            settings.ocpp_trusted_proxy_networks  # noqa: B018
        except ValueError as exc:
            raise SettingsError(f"invalid CENTRALE_* setting: {exc}") from exc
        settings.check_ocpp_ca_files()
        return settings.with_secret_key()

    def check_ocpp_ca_files(self) -> None:
        """Both CA files or neither, each a readable file: said at start, not at the first SignCertificate
        (their contents are checked when the ingress loads them, csms.domain.certificates.load_authority)."""
        named = {"CENTRALE_OCPP_CA_CERT_FILE": self.ocpp_ca_cert_file,
                 "CENTRALE_OCPP_CA_KEY_FILE": self.ocpp_ca_key_file}
        given = [name for name, path in named.items() if path is not None]
        if len(given) == 1:
            missing = next(name for name in named if name not in given)
            raise SettingsError(f"{given[0]} is set without {missing}: the station certificate authority needs both")
        for name, path in named.items():
            if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
                raise SettingsError(f"{name} ({path}): not a readable file")

    def with_secret_key(self) -> Settings:
        """Embedded mode generates a key once into ``var/``; scaled mode requires one."""
        if self.secret_key:
            return self
        if not self.embedded:
            raise SettingsError("CENTRALE_SECRET_KEY is required when CENTRALE_REDIS_URL is set (scaled mode)")
        path = self.var_dir / "secret_key"
        if path.exists():
            key = path.read_text().strip()
        else:
            self.var_dir.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            path.write_text(key)
            path.chmod(0o600)
        return replace(self, secret_key=key)
