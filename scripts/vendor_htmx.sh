#!/usr/bin/env bash
# Vendor htmx into frontend/static/vendor/ from the npm registry.
#
# The version and the tarball's integrity hash are pinned: to upgrade, change both
# (npm view htmx.org@X.Y.Z dist.integrity), run this script from anywhere, and
# commit frontend/static/vendor/htmx.min.js and htmx.LICENSE together.
#
#   bash scripts/vendor_htmx.sh
set -euo pipefail

HTMX_VERSION="2.0.11"
HTMX_INTEGRITY="sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA=="

repo="$(cd "$(dirname "$0")/.." && pwd)"
dest="$repo/frontend/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

npm install --prefix "$tmp" --no-save --no-audit --no-fund --ignore-scripts "htmx.org@$HTMX_VERSION" >/dev/null

pkg="$tmp/node_modules/htmx.org"
installed="$(node -p "require('$pkg/package.json').version")"
integrity="$(node -p "require('$tmp/node_modules/.package-lock.json').packages['node_modules/htmx.org'].integrity")"
if [[ "$installed" != "$HTMX_VERSION" || "$integrity" != "$HTMX_INTEGRITY" ]]; then
    echo "htmx.org: expected $HTMX_VERSION ($HTMX_INTEGRITY), got $installed ($integrity)" >&2
    exit 1
fi

mkdir -p "$dest"
cp "$pkg/dist/htmx.min.js" "$dest/htmx.min.js"
cp "$pkg/LICENSE" "$dest/htmx.LICENSE"
echo "htmx.org $HTMX_VERSION -> $dest/htmx.min.js, htmx.LICENSE"
