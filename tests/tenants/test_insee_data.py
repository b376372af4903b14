"""The committed INSEE commune data (tenants/data/, built by scripts/build_communes.py)."""

import csv
import gzip
import io
import re
from importlib.resources import files

import pytest

from tenants import identifiers
from tenants.identifiers import InvalidIdentifier, get_commune, validate_insee_code


def _rows(name):
    raw = (files("tenants") / "data" / name).read_bytes()
    return list(csv.reader(io.StringIO(gzip.decompress(raw).decode("utf-8"))))


def test_data_file_loads_and_is_complete():
    rows = _rows("communes.csv.gz")
    assert rows[0] == ["code", "name", "departement", "region"]
    codes = [row[0] for row in rows[1:]]
    assert len(codes) > 34_000
    assert codes == sorted(codes)
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[0-9]{5}|2[AB][0-9]{3}", code) for code in codes)
    assert all(name and department and region for _, name, department, region in rows[1:])


def test_gzip_is_reproducible():
    # mtime=0 and no file name in the header, so a rebuild gives the same bytes.
    for name in ("communes.csv.gz", "postal_codes.csv.gz"):
        header = (files("tenants") / "data" / name).read_bytes()[:10]
        assert header[4:8] == b"\0\0\0\0"  # MTIME
        assert header[3] & 0x08 == 0  # FNAME flag


def test_lookup_covers_the_whole_file():
    assert len(identifiers._communes()) == len(_rows("communes.csv.gz")) - 1


@pytest.mark.parametrize(
    ("code", "name"),
    [("72181", "Le Mans"), ("57463", "Metz"), ("97411", "Saint-Denis")],
)
def test_reference_communes(code, name):
    assert get_commune(code).name == name
    assert validate_insee_code(code) == code


def test_every_territory_is_there():
    departments = {c.department for c in identifiers._communes().values()}
    # 96 metropolitan departments, 5 overseas departments, 6 overseas collectivities.
    assert {"01", "2A", "2B", "95", "971", "972", "973", "974", "976"} <= departments
    assert {"975", "977", "978", "986", "987", "988"} <= departments
    assert {"984", "989"}.isdisjoint(departments)  # TAAF districts and Clipperton are not communes
    assert len(departments) == 96 + 5 + 6


def test_arrondissements_municipaux():
    communes = identifiers._communes()
    assert sum("75101" <= code <= "75120" for code in communes) == 20
    assert {"69381", "69389", "13201", "13216"} <= communes.keys()
    assert {"75056", "69123", "13055"} <= communes.keys()  # the communes themselves too


def test_unknown_and_former_codes_are_refused():
    with pytest.raises(InvalidIdentifier, match="inconnu"):
        validate_insee_code("00000")
    # Old codes merged into current communes (Metz absorbed 57094 among others) are refused.
    with pytest.raises(InvalidIdentifier, match="inconnu"):
        validate_insee_code("57094")
