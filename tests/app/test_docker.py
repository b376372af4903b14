"""The scaled deployment files (docker/): no engine here, so check what can be checked
statically: the compose file parses, wires the services as intended, takes every
secret from docker/.env, and runs commands the CLI has."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from click import Group

from app.cli import cli

DOCKER = Path(__file__).resolve().parents[2] / "docker"
CENTRALE_SERVICES = {"migrate", "web", "ingress", "worker"}
#: Compose commands whose CLI command arrives with a later issue.
PENDING_COMMANDS = {("ingress",): "the OCPP ingress issue adds `centrale ingress`"}


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (DOCKER / ".env.example").read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_compose_services_and_their_order():
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "ocpp-tls"} | CENTRALE_SERVICES
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["environment"]["CENTRALE_DATABASE_ADMIN_URL"].startswith("postgresql+asyncpg://centrale:")
    for name in CENTRALE_SERVICES - {"migrate"}:
        service = services[name]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}, name
        # The application role, never the owner: row-level security applies to it.
        assert service["environment"]["CENTRALE_DATABASE_URL"].startswith("postgresql+asyncpg://centrale_app:"), name
        assert "CENTRALE_DATABASE_ADMIN_URL" not in service["environment"], name
    for name in CENTRALE_SERVICES:
        env = services[name]["environment"]
        assert env["CENTRALE_REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}


def test_the_stations_tls_proxy_is_the_only_one_the_ingress_trusts():
    """OCPP security profiles 2 and 3 (csms/domain/profiles.py): nginx renders the template the tests run
    (tests/csms/test_security_profile3.py), and the ingress believes its headers from its fixed address only."""
    services = _compose()["services"]
    proxy = services["ocpp-tls"]
    assert "./nginx/ocpp-tls.conf.template:/etc/nginx/templates/ocpp-tls.conf.template:ro" in proxy["volumes"]
    assert proxy["environment"]["INGRESS_UPSTREAM"] == "ingress:9000"
    address = proxy["networks"]["stations"]["ipv4_address"]
    assert services["ingress"]["environment"]["CENTRALE_OCPP_TRUSTED_PROXIES"] == address
    template = (DOCKER / "nginx" / "ocpp-tls.conf.template").read_text()
    for header in ("X-Forwarded-Proto https", "X-Client-Verify $ssl_client_verify", "X-Client-Cert $ssl_client_escaped_cert"):
        assert f"proxy_set_header {header};" in template
    assert "tls/" in (DOCKER / ".gitignore").read_text().split()  # private keys stay out of git


def test_compose_commands_exist_in_the_cli():
    for name in CENTRALE_SERVICES:
        words = tuple(_compose()["services"][name]["command"])
        if words in PENDING_COMMANDS:
            continue
        group = cli
        for word in words:
            assert isinstance(group, Group) and word in group.commands, f"{name}: centrale {' '.join(words)}"
            group = group.commands[word]


def test_every_secret_comes_from_the_env_file():
    text = (DOCKER / "compose.yaml").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = _env_example()
    assert used <= set(example), f"missing from .env.example: {sorted(used - set(example))}"
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert {"POSTGRES_PASSWORD", "CENTRALE_APP_DB_PASSWORD", "CENTRALE_SECRET_KEY"} <= required
    for key in required:
        assert example[key].startswith("change-me"), f"{key}: the example must not hold a real secret"
    assert ".env" in (DOCKER / ".gitignore").read_text().split()


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck():
    text = (DOCKER / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    assert "uv pip sync" in text and "requirements.lock" in text
    assert re.search(r"^USER (?!root)\S+", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    assert re.search(r"^EXPOSE 8000 9000$", text, re.M)
