"""The services' JSON codec writes what the standard library wrote, and JSON columns use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, select, text

from shared import jsoncodec
from shared.db.engine import Database
from shared.errors import BadRequestError
from shared.fhir.formats import parse_resource

#: Values whose text both libraries write alike (floats in exponent form are written
#: differently, "1e-07" against "1e-7", and read back equal: see the next test).
SAME_TEXT = [
    {
        "resourceType": "DocumentReference",
        "description": "Compte rendu d'hospitalisation — été",
        "size": 50_000,
    },
    {"nested": [1, 2.5, -3, True, False, None, "\u00e9\U0001f600", {"a": []}], "empty": {}},
    ['tab\tnew\nline"quote\\', 0.1, "\u2028"],
]


@pytest.mark.parametrize("value", SAME_TEXT)
def test_dumps_writes_the_standard_librarys_compact_utf8(value: object) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert jsoncodec.dumps(value) == expected
    assert jsoncodec.dumps_text(value) == expected.decode()
    assert jsoncodec.loads(expected) == json.loads(expected)


@pytest.mark.parametrize("value", [1e300, -3e-7, 1.5e-10, 123456789.125])
def test_floats_round_trip(value: float) -> None:
    assert jsoncodec.loads(jsoncodec.dumps(value)) == value == json.loads(jsoncodec.dumps(value))


def test_non_string_keys_become_strings_as_with_the_standard_library() -> None:
    assert jsoncodec.loads(jsoncodec.dumps({1: "a", "b": 2})) == json.loads(json.dumps({1: "a", "b": 2}))


@pytest.mark.parametrize("body", [b"{", b'{"a": 1,}', b"\xff\xfe{}", b'{"a": NaN}'])
def test_invalid_json_is_a_json_decode_error_and_a_fhir_400(body: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        jsoncodec.loads(body)
    with pytest.raises(BadRequestError) as caught:
        parse_resource(body, "application/fhir+json")
    assert caught.value.body().status == 400


def test_json_columns_are_written_and_read_with_the_codec(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/codec.db")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("doc", JSON))
    table.metadata.create_all(database.engine)
    value = {"title": "Ordonnance — été", "n": [1, 2]}
    with database.engine.begin() as connection:
        connection.execute(table.insert().values(id=1, doc=value))
        stored = connection.execute(text("SELECT doc FROM t")).scalar_one()
        read = connection.execute(select(table.c.doc)).scalar_one()
    # Compact and unescaped: the codec's text, not json.dumps's default ('": "', '\\u2014').
    assert stored == '{"title":"Ordonnance — été","n":[1,2]}'
    assert read == value
    database.engine.dispose()
