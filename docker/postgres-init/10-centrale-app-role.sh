#!/bin/sh
# First start of the PostgreSQL volume only: the role the application connects as.
# It owns nothing; `centrale db upgrade` (run as the owner, POSTGRES_USER) creates the
# tables and grants this role what it may do (migrations/helpers.py: grant_app_role).
set -eu
: "${CENTRALE_APP_DB_PASSWORD:?CENTRALE_APP_DB_PASSWORD is not set}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=app_password="$CENTRALE_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE centrale_app LOGIN PASSWORD :'app_password'
  NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
