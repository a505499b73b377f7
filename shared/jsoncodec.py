"""The JSON codec of bodies and JSON columns: orjson, with the standard library's output.

A DMP search answers ten DocumentReferences (25 kB of JSON) decoded from ten JSON
columns; with the standard library, decoding and encoding them were about a quarter of
the search's CPU (``python -m bench.dmp``, README "How fast"). orjson does both several
times faster and writes what ``json.dumps(ensure_ascii=False, separators=(",", ":"))``
wrote for the values the services hold (str keys, str/int/float/bool/None, lists, dicts).
"""

from __future__ import annotations

from typing import Any

import orjson

#: Non-string keys become strings, as ``json.dumps`` makes them.
_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return orjson.dumps(value, option=_OPTIONS)


def dumps_text(value: Any) -> str:
    """Compact JSON as ``str``: what SQLAlchemy's JSON columns bind."""
    return orjson.dumps(value, option=_OPTIONS).decode()


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """JSON to Python values. Its error, ``orjson.JSONDecodeError``, is a
    ``json.JSONDecodeError`` (invalid UTF-8 included)."""
    return orjson.loads(data)
