"""``centrale oidc add|enable|disable|list``: the identity providers from the command line."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy import select

from app.commandline import emit, fail, run
from app.errors import NotFound
from app.settings import Settings
from tenants.models import OidcProvider, Tenant
from tenants.oidc.providers import DEFAULT_SCOPE, JIT_ROLES, add_provider, list_providers

# --------------------------------------------------------------------------- CLI


def _describe(provider: OidcProvider, scope_label: str) -> dict[str, Any]:
    return {
        "id": str(provider.id),
        "slug": provider.slug,
        "name": provider.name,
        "discovery_url": provider.discovery_url,
        "client_id": provider.client_id,
        "scope": provider.scope,
        "for": scope_label,
        "central_id": str(provider.central_id) if provider.central_id else None,
        "tenant_id": str(provider.tenant_id) if provider.tenant_id else None,
        "jit_role": (provider.settings or {}).get("jit_role"),
        "authorize_params": (provider.settings or {}).get("authorize_params") or {},
        "userinfo_signed": provider.userinfo_signed,
        "enabled": provider.enabled,
    }


@click.group(help="Fournisseurs d'identité OpenID Connect (ProConnect…).")
def oidc() -> None:
    pass


@oidc.command("add", help="Déclare un fournisseur d'identité (le secret client est chiffré en base).")
@click.option("--slug", required=True, help="Identifiant dans les URL, ex. proconnect")
@click.option("--name", required=True, help="Nom affiché : « Se connecter avec NOM »")
@click.option("--discovery-url", required=True, help="URL du document /.well-known/openid-configuration")
@click.option("--client-id", required=True)
@click.option("--client-secret", required=True)
@click.option("--central", "central_code", help="Réservé à une centrale (code)")
@click.option("--tenant", "tenant_id", help="Réservé à un bénéficiaire (identifiant)")
@click.option("--jit-role", type=click.Choice([r.value for r in JIT_ROLES]), help="Crée le compte à la première connexion si le SIRET correspond")
@click.option("--scope", default=DEFAULT_SCOPE, show_default=True)
@click.option("--userinfo-json", is_flag=True, help="userinfo en JSON simple (par défaut : JWT signé, comme ProConnect)")
@click.option("--authorize-param", "authorize_params", multiple=True, metavar="CLÉ=VALEUR",
              help="Paramètre ajouté à la demande d'autorisation (ex. acr_values=eidas1) ; répétable")
@click.option("--replace", is_flag=True, help="Met à jour le fournisseur de même identifiant")
@click.option("--json", "as_json", is_flag=True)
def oidc_add(
    slug: str, name: str, discovery_url: str, client_id: str, client_secret: str, central_code: str | None,
    tenant_id: str | None, jit_role: str | None, scope: str, userinfo_json: bool, authorize_params: tuple[str, ...],
    replace: bool, as_json: bool,
) -> None:

    extra: dict[str, str] = {}
    for item in authorize_params:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"attendu CLÉ=VALEUR, reçu « {item} »", param_hint="--authorize-param")
        extra[key.strip()] = value

    async def go(settings: Settings) -> Any:
        from app.db import Database

        database = Database(settings.database_url)
        try:
            async with database.transaction(actor={"user_id": None, "label": "cli"}) as session:
                provider = await add_provider(
                    session, settings, slug=slug, name=name, discovery_url=discovery_url, client_id=client_id,
                    client_secret=client_secret, central_code=central_code, tenant_id=tenant_id, jit_role=jit_role,
                    scope=scope, userinfo_signed=not userinfo_json, authorize_params=extra, replace=replace,
                )
                return provider.id
        finally:
            await database.dispose()

    try:
        provider_id = run(go)
    except Exception as exc:  # noqa: BLE001
        fail(exc, as_json)
    emit(as_json, {"id": str(provider_id), "slug": slug.strip().lower()}, f"fournisseur d'identité enregistré : {slug}")


def _set_enabled(slug: str, enabled: bool) -> None:

    async def go(settings: Settings) -> None:
        from app.db import Database

        database = Database(settings.database_url)
        try:
            async with database.transaction(actor={"user_id": None, "label": "cli"}) as session:
                provider = await session.scalar(select(OidcProvider).where(OidcProvider.slug == slug.strip().lower()))
                if provider is None:
                    raise NotFound(f"fournisseur d'identité {slug}")
                provider.enabled = enabled
        finally:
            await database.dispose()

    try:
        run(go)
    except Exception as exc:  # noqa: BLE001
        fail(exc, False)
    click.echo(f"fournisseur d'identité {slug} {'activé' if enabled else 'désactivé'}")


@oidc.command("enable", help="Réactive un fournisseur d'identité.")
@click.argument("slug")
def oidc_enable(slug: str) -> None:
    _set_enabled(slug, True)


@oidc.command("disable", help="Désactive un fournisseur d'identité (son bouton disparaît de la page de connexion).")
@click.argument("slug")
def oidc_disable(slug: str) -> None:
    _set_enabled(slug, False)


@oidc.command("list", help="Liste les fournisseurs d'identité (sans les secrets).")
@click.option("--json", "as_json", is_flag=True)
def oidc_list(as_json: bool) -> None:

    async def go(settings: Settings) -> list[dict[str, Any]]:
        from app.db import Database
        from tenants.models import Central

        database = Database(settings.database_url)
        try:
            async with database.session() as session:
                out = []
                for provider in await list_providers(session):
                    label = "toute la plateforme"
                    if provider.central_id:
                        central = await session.get(Central, provider.central_id)
                        label = f"centrale {central.code if central else provider.central_id}"
                    elif provider.tenant_id:
                        tenant = await session.get(Tenant, provider.tenant_id)
                        label = f"bénéficiaire {tenant.name if tenant else provider.tenant_id}"
                    out.append(_describe(provider, label))
                return out
        finally:
            await database.dispose()

    rows = run(go)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("aucun fournisseur d'identité")
    for row in rows:
        state = "actif" if row["enabled"] else "désactivé"
        jit = f", création automatique : {row['jit_role']}" if row["jit_role"] else ""
        click.echo(f"{row['slug']}\t{row['name']}\t{row['for']}\t{state}{jit}\t{row['discovery_url']}")
