"""Build the INSEE commune data shipped in ``tenants/data/`` from ``@etalab/decoupage-administratif``.

The npm package (MIT, by Etalab) republishes the INSEE code officiel géographique
(COG) as JSON, with La Poste's postal codes. It is pinned here by version and by
tarball integrity, so that the same command always writes the same bytes:

    .venv/bin/python scripts/build_communes.py

(needs ``npm`` and the npm registry; ``--package-dir DIR`` reads an already
unpacked copy of the package instead). To move to a newer COG, bump
``PACKAGE_VERSION`` and ``PACKAGE_INTEGRITY`` (``npm view
@etalab/decoupage-administratif@X.Y.Z dist.integrity``), run the script, check the
diff of counts it prints, and commit the three files together with docs/data.md.

What is kept (everything else in the package is dropped):
- current communes (``type == "commune-actuelle"``), overseas departments included;
- the municipal arrondissements of Paris, Lyon and Marseille
  (``"arrondissement-municipal"``: 75101-75120, 69381-69389, 13201-13216);
- the communes of the overseas collectivities 975 (Saint-Pierre-et-Miquelon),
  977 (Saint-Barthélemy), 978 (Saint-Martin), 986 (Wallis-et-Futuna),
  987 (Polynésie française) and 988 (Nouvelle-Calédonie). The package also lists
  the TAAF districts (984) and Clipperton (989) as communes; they have no
  municipality nor public buyer and are left out.
Delegated and associated communes (``commune-deleguee``, ``commune-associee``) are
not current communes: their codes are refused.

Files written:
- ``tenants/data/communes.csv.gz``: ``code,name,departement,region``, sorted by code;
- ``tenants/data/postal_codes.csv.gz``: ``postal_code,code``, sorted;
- ``tenants/data/regions.csv``: ``code,name`` (regions and overseas collectivities).
The gzip files are written with ``mtime=0`` and no file name, so a rebuild from the
same package version is byte-identical.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

PACKAGE = "@etalab/decoupage-administratif"
PACKAGE_VERSION = "6.0.0"
PACKAGE_INTEGRITY = "sha512-XavYsFlbcM/prKr8hNHPKER94IHw/dsxNM4nxjWMYk6PLFACpEedvn/7wK8Baozm0dCYhWWcf+7bcWpA5pmCaQ=="

#: Overseas collectivities whose communes are kept (the others the package lists are not municipalities).
KEPT_COLLECTIVITIES = frozenset({"975", "977", "978", "986", "987", "988"})

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "tenants" / "data"


def install_package(prefix: Path) -> Path:
    """Install the pinned package under ``prefix`` and check it is the expected tarball."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed to fetch the package (or pass --package-dir)")
    subprocess.run(  # noqa: S603 - fixed argument list, pinned package
        [npm, "install", "--prefix", str(prefix), "--no-save", "--no-audit", "--no-fund", "--ignore-scripts",
         f"{PACKAGE}@{PACKAGE_VERSION}"],
        check=True, stdout=subprocess.DEVNULL,
    )
    lock = json.loads((prefix / "node_modules" / ".package-lock.json").read_text(encoding="utf-8"))
    entry = lock["packages"][f"node_modules/{PACKAGE}"]
    if entry["version"] != PACKAGE_VERSION or entry.get("integrity") != PACKAGE_INTEGRITY:
        sys.exit(f"{PACKAGE}: expected {PACKAGE_VERSION} ({PACKAGE_INTEGRITY}), got {entry['version']} ({entry.get('integrity')})")
    return prefix / "node_modules" / PACKAGE


def is_kept(commune: dict) -> bool:
    kind = commune["type"]
    if kind == "arrondissement-municipal":
        return True
    if kind != "commune-actuelle":
        return False
    if commune.get("zone") == "com":
        return commune["departement"] in KEPT_COLLECTIVITIES
    return True


def select(communes: list[dict]) -> list[dict]:
    kept = sorted((c for c in communes if is_kept(c)), key=lambda c: c["code"])
    codes = [c["code"] for c in kept]
    if len(codes) != len(set(codes)):
        duplicates = [code for code, n in Counter(codes).items() if n > 1]
        sys.exit(f"duplicate commune codes in the package: {duplicates[:10]}")
    for c in kept:
        if not (c.get("nom") and c.get("departement") and c.get("region")):
            sys.exit(f"incomplete commune in the package: {c}")
    return kept


def csv_bytes(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def write_gzip(path: Path, data: bytes) -> None:
    """Write ``data`` gzipped without a timestamp or a file name, so rebuilds are byte-identical."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    path.write_bytes(buffer.getvalue())


def build(package_dir: Path, out_dir: Path) -> None:
    communes = json.loads((package_dir / "data" / "communes.json").read_text(encoding="utf-8"))
    regions = json.loads((package_dir / "data" / "regions.json").read_text(encoding="utf-8"))
    kept = select(communes)

    out_dir.mkdir(parents=True, exist_ok=True)
    write_gzip(
        out_dir / "communes.csv.gz",
        csv_bytes(("code", "name", "departement", "region"),
                  [(c["code"], c["nom"], c["departement"], c["region"]) for c in kept]),
    )
    postal = sorted({(cp, c["code"]) for c in kept for cp in c.get("codesPostaux", ())})
    write_gzip(out_dir / "postal_codes.csv.gz", csv_bytes(("postal_code", "code"), postal))
    used_regions = {c["region"] for c in kept}
    region_rows = sorted((r["code"], r["nom"]) for r in regions if r["code"] in used_regions)
    missing = used_regions - {code for code, _ in region_rows}
    if missing:
        sys.exit(f"regions without a name in the package: {sorted(missing)}")
    (out_dir / "regions.csv").write_bytes(csv_bytes(("code", "name"), region_rows))

    kinds = Counter(c["type"] for c in kept)
    print(f"{PACKAGE}@{PACKAGE_VERSION}: {len(kept)} codes "
          f"({kinds['commune-actuelle']} communes, {kinds['arrondissement-municipal']} arrondissements municipaux), "
          f"{len(postal)} postal code pairs, {len(region_rows)} regions -> {out_dir}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package-dir", type=Path, help="an unpacked copy of the package (skips npm)")
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    if args.package_dir is not None:
        build(args.package_dir, args.out_dir)
        return
    with tempfile.TemporaryDirectory(prefix="communes-") as tmp:
        build(install_package(Path(tmp)), args.out_dir)


if __name__ == "__main__":
    main()
