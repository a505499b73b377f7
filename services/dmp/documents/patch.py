"""The two PATCH formats the DMP accepts, applied to a resource ``dict`` (pure).

* JSON Patch (RFC 6902), ``application/json-patch+json``: add, remove, replace, move,
  copy, test, on JSON Pointers (RFC 6901);
* FHIRPath Patch (FHIR R4 §fhirpatch.html), a ``Parameters`` resource: add, insert,
  delete, replace, move, on the FHIRPath subset the PDSm examples use: element names,
  ``[n]`` indexes, ``first()``, ``last()`` and ``where(<path> = '<literal>' [and ...])``.

What may change is the caller's business (the DMP's whitelist compares before and after).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from shared.errors import BadRequestError, UnprocessableError

Location = tuple[Any, Any]  # (container dict or list, key or index)

#: DocumentReference elements that are lists (where FHIRPath ``add`` appends).
LIST_ELEMENTS = frozenset(
    {
        "extension",
        "securityLabel",
        "identifier",
        "category",
        "author",
        "relatesTo",
        "content",
        "contained",
        "event",
        "related",
        "coding",
        "given",
        "profile",
        "security",
        "tag",
        "entry",
    }
)


class PatchError(UnprocessableError):
    """A patch that does not apply to this resource (422, FHIR R4 §http.html#patch)."""


# -- JSON Patch ------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise BadRequestError(f"'{path}' is not a JSON Pointer (RFC 6901)", fhir_code="structure")
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def _walk(document: Any, parts: list[str]) -> tuple[Any, str]:
    node = document
    for part in parts[:-1]:
        node = _child(node, part)
    if not parts:
        raise PatchError("the whole resource cannot be patched")
    return node, parts[-1]


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    raise PatchError(f"path element '{part}' does not exist")


def _get(node: Any, key: str) -> Any:
    return _child(node, key)


def _remove(node: Any, key: str) -> Any:
    if isinstance(node, dict) and key in node:
        return node.pop(key)
    if isinstance(node, list) and key.isdigit() and int(key) < len(node):
        return node.pop(int(key))
    raise PatchError(f"cannot remove '{key}': it does not exist")


def _add(node: Any, key: str, value: Any) -> None:
    if isinstance(node, dict):
        node[key] = value
    elif isinstance(node, list):
        if key == "-":
            node.append(value)
        elif key.isdigit() and int(key) <= len(node):
            node.insert(int(key), value)
        else:
            raise PatchError(f"index '{key}' is out of the array")
    else:
        raise PatchError(f"cannot add '{key}' to a {type(node).__name__}")


def apply_json_patch(resource: dict[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902 on a copy of ``resource``."""
    if not isinstance(operations, list):
        raise BadRequestError("a JSON Patch is an array of operations (RFC 6902)", fhir_code="structure")
    document = copy.deepcopy(resource)
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise BadRequestError(
                f"JSON Patch operation {index} needs 'op' and 'path'", fhir_code="structure"
            )
        op, parts = operation["op"], _pointer(operation["path"])
        node, key = _walk(document, parts)
        if op in ("add", "replace", "test") and "value" not in operation:
            raise BadRequestError(
                f"JSON Patch operation {index} ({op}) needs a 'value'", fhir_code="structure"
            )
        if op == "add":
            _add(node, key, copy.deepcopy(operation["value"]))
        elif op == "remove":
            _remove(node, key)
        elif op == "replace":
            _get(node, key)
            if isinstance(node, list):
                node[int(key)] = copy.deepcopy(operation["value"])
            else:
                node[key] = copy.deepcopy(operation["value"])
        elif op in ("move", "copy"):
            source_node, source_key = _walk(document, _pointer(operation.get("from")))
            value = (
                _remove(source_node, source_key)
                if op == "move"
                else copy.deepcopy(_get(source_node, source_key))
            )
            node, key = _walk(document, parts)
            _add(node, key, value)
        elif op == "test":
            if _get(node, key) != operation["value"]:
                raise PatchError(f"JSON Patch test failed at {operation['path']}")
        else:
            raise BadRequestError(f"unknown JSON Patch op '{op}'", fhir_code="structure")
    return document


# -- FHIRPath Patch ----------------------------------------------------------------------

_SEGMENT = re.compile(r"^(?P<name>[A-Za-z_][\w]*)(?:\[(?P<index>\d+)\])?$")
_FUNCTION = re.compile(r"^(?P<fn>where|first|last)\((?P<arg>.*)\)(?:\[(?P<index>\d+)\])?$", re.S)
_CONDITION = re.compile(r"^\s*(?P<path>[A-Za-z_][\w.]*)\s*=\s*'(?P<value>(?:[^'\\]|\\.)*)'\s*$")


def _split(path: str, separator: str = ".") -> list[str]:
    """Split at top-level separators (not inside parentheses or quotes)."""
    parts, depth, quoted, current = [], 0, False, ""
    i = 0
    while i < len(path):
        char = path[i]
        if char == "'" and (i == 0 or path[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if not quoted and depth == 0 and path.startswith(separator, i):
            parts.append(current)
            current = ""
            i += len(separator)
            continue
        current += char
        i += 1
    parts.append(current)
    return parts


def _values(node: Any, dotted: str) -> list[Any]:
    items = [node]
    for name in dotted.split("."):
        found: list[Any] = []
        for item in items:
            value = item.get(name) if isinstance(item, dict) else None
            if isinstance(value, list):
                found.extend(value)
            elif value is not None:
                found.append(value)
        items = found
    return items


def _matches(node: Any, condition: str) -> bool:
    for clause in _split(condition, " and "):
        match = _CONDITION.match(clause)
        if not match:
            raise UnprocessableError(
                f"unsupported FHIRPath condition '{clause.strip()}' (use <path> = '<value>')"
            )
        if match["value"] not in [str(v) for v in _values(node, match["path"])]:
            return False
    return True


def _select(locations: list[Location], segment: str) -> list[Location]:
    function = _FUNCTION.match(segment)
    if function:
        items = locations
        if function["fn"] == "where":
            items = [loc for loc in locations if _matches(loc[0][loc[1]], function["arg"])]
        elif function["fn"] == "first":
            items = locations[:1]
        else:
            items = locations[-1:]
        return _indexed(items, function["index"])
    match = _SEGMENT.match(segment)
    if not match:
        raise UnprocessableError(f"unsupported FHIRPath segment '{segment}'")
    found: list[Location] = []
    for container, key in locations:
        node = container[key]
        if not isinstance(node, dict) or match["name"] not in node:
            continue
        value = node[match["name"]]
        if isinstance(value, list):
            found.extend((value, i) for i in range(len(value)))
        else:
            found.append((node, match["name"]))
    return _indexed(found, match["index"])


def _indexed(locations: list[Location], index: str | None) -> list[Location]:
    if index is None:
        return locations
    position = int(index)
    return [locations[position]] if position < len(locations) else []


def select(resource: dict[str, Any], path: str) -> list[Location]:
    """The locations a FHIRPath expression designates in ``resource``."""
    segments = _split(path.strip())
    root: list[Location] = [({"$": resource}, "$")]
    if segments and segments[0] == resource.get("resourceType"):
        segments = segments[1:]
    locations = root
    for segment in segments:
        locations = _select(locations, segment.strip())
    return locations


def _value_of(part: dict[str, Any]) -> Any:
    if "part" in part:
        built: dict[str, Any] = {}
        for child in part["part"]:
            name = child.get("name")
            value = _value_of(child)
            built[name] = value
        return built
    for key, value in part.items():
        if key.startswith("value"):
            return copy.deepcopy(value)
    raise BadRequestError(f"FHIRPath Patch part '{part.get('name')}' has no value", fhir_code="structure")


def _operations(parameters: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if parameters.get("resourceType") != "Parameters":
        raise BadRequestError(
            "a FHIRPath Patch is a Parameters resource", fhir_code="structure", expression=["Parameters"]
        )
    for index, parameter in enumerate(parameters.get("parameter") or ()):
        if not isinstance(parameter, dict) or parameter.get("name") != "operation":
            raise BadRequestError(
                f"Parameters.parameter[{index}] must be an 'operation'",
                fhir_code="structure",
                expression=[f"Parameters.parameter[{index}].name"],
            )
        parts: dict[str, Any] = {}
        for part in parameter.get("part") or ():
            name = part.get("name")
            parts[name] = (
                _value_of(part)
                if name == "value"
                else next((v for k, v in part.items() if k.startswith("value")), None)
            )
        if parts.get("type") not in ("add", "insert", "delete", "replace", "move") or not parts.get("path"):
            raise BadRequestError(
                f"operation {index} needs a type (add, insert, delete, replace, move) and a path",
                fhir_code="structure",
                expression=[f"Parameters.parameter[{index}]"],
            )
        yield parts


def _single(locations: list[Location], path: str) -> Location:
    if len(locations) != 1:
        raise PatchError(
            f"FHIRPath '{path}' designates {len(locations)} elements; the operation needs exactly one"
        )
    return locations[0]


def apply_fhirpath_patch(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """FHIR R4 FHIRPath Patch on a copy of ``resource``."""
    document = copy.deepcopy(resource)
    for operation in _operations(parameters):
        kind, path = operation["type"], str(operation["path"])
        locations = select(document, path)
        if kind == "replace":
            container, key = _single(locations, path)
            container[key] = operation.get("value")
        elif kind == "delete":
            if not locations:
                continue  # FHIR: deleting nothing is not an error
            container, key = _single(locations, path)
            del container[key]
        elif kind == "add":
            container, key = _single(locations, path)
            node, name = container[key], operation.get("name")
            if not isinstance(node, dict) or not name:
                raise PatchError(f"add needs a 'name' and an element at '{path}'")
            if name in LIST_ELEMENTS or isinstance(node.get(name), list):
                node.setdefault(name, []).append(operation.get("value"))
            else:
                node[name] = operation.get("value")
        else:  # insert or move: ``path`` designates the items of a list
            target = locations[0][0] if locations and isinstance(locations[0][0], list) else None
            if target is None:
                raise PatchError(f"{kind} needs a non-empty list at '{path}'")
            if kind == "insert":
                target.insert(int(operation.get("index") or 0), operation.get("value"))
            else:
                source, destination = (
                    int(operation.get("source") or 0),
                    int(operation.get("destination") or 0),
                )
                target.insert(destination, target.pop(source))
    return document
