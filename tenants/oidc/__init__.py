"""OpenID Connect login, compatible with ProConnect (the French state's agent SSO).

One ``OidcProvider`` row per configured provider, enabled for the whole platform,
for a central or for a tenant. The flow is the authorization code flow with PKCE
(S256); ``state`` and ``nonce`` are 43 characters (ProConnect requires at least 32).
What the provider returns is trusted only after verification:

- the ID token: signature against the provider's JWKS (asymmetric algorithms only),
  ``iss``, ``aud``, ``exp``, ``nonce`` (and ``at_hash`` when present);
- the userinfo response: ProConnect answers with a signed JWT
  (``application/jwt``), verified like the ID token; a plain JSON userinfo is
  accepted only from a provider configured with ``userinfo_signed = False``. Its
  ``sub`` must equal the ID token's (OIDC Core 5.3.2).

Accounts are matched by e-mail. A provider scoped to a central or a tenant only
signs in users who belong to that scope, so that a provider trusted by one
beneficiary cannot open the account of another. Just-in-time provisioning
(``settings.jit_role``) creates an account only when the ``siret`` claim is the
SIRET of a tenant the provider serves.

Modules: ``providers`` (configuration, client secret encrypted at rest),
``protocol`` (discovery, keys, code exchange, verification), ``accounts`` (which
account an identity opens), ``web`` (the login pages), ``cli`` (``centrale oidc``).
"""
