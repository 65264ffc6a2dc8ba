"""Reading an OpenAPI document in tests: walk it, resolve refs, validate values against its schemas, list examples.

Shared by the spec tests of both APIs so that "every example validates" means the same thing for each.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mock_server.resources import load_yaml

ROOT = Path(__file__).resolve().parent.parent
METHODS = {"get", "post", "put", "patch", "delete"}
Example = tuple[str, dict[str, Any], Any]  # where, schema, value
# the keywords field-level provenance speaks of: a documented field lists the inferred ones in `x-inferred`
CONSTRAINTS = (
    "format",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "default",
)


def walk(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


@dataclass
class SpecDoc:
    path: Path
    doc: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.doc = load_yaml(self.path.read_text())

    def operations(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(p, m, op) for p, item in self.doc["paths"].items() for m, op in item.items() if m in METHODS]

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def constraints(self, node: dict[str, Any]) -> set[str]:
        """The constraint keywords a (property or parameter) schema states; a `null` in its type counts as
        `nullable`, and a shared schema it refers to (or a shared enum it takes) brings its keywords along."""
        kinds = node.get("type")
        branches = [self.resolve(b) for b in node.get("anyOf", [])]
        nullable = isinstance(kinds, list) and "null" in kinds or {"type": "null"} in branches
        shared = [self.resolve(node)] if "$ref" in node else [b for b in branches if b != {"type": "null"}]
        own = {k for k in CONSTRAINTS if k in node} | ({"nullable"} if nullable else set())
        return own | {k for target in shared for k in CONSTRAINTS if k in target}

    def guessed(self, node: dict[str, Any]) -> set[str]:
        """The keywords a property marks as ours: its own `x-inferred` and that of the shared schema it refers to."""
        targets = [node, *([self.resolve(node)] if "$ref" in node else [])]
        return {k for target in targets for k in target.get("x-inferred", [])}

    def documented_field_problems(self, fields: dict[str, dict[str, list[str]]]) -> tuple[list[str], int]:
        """Held against reference data (schema -> documented property -> the keywords the docs state): a documented
        property is not marked inferred (nor its schema), every other keyword it has is marked ours, and every stated
        one is there and not marked ours. Returns the problems and how many properties were checked."""
        problems: list[str] = []
        checked = 0
        for name, props in fields.items():
            schema = self.doc["components"]["schemas"][name]
            if schema.get("x-provenance") == "inferred":
                problems.append(f"{name}: a schema with documented fields is marked inferred")
            for prop, stated in props.items():
                node = schema["properties"][prop]
                kinds, ours = self.constraints(node), self.guessed(node)
                if node.get("x-provenance") == "inferred":
                    problems.append(f"{name}.{prop} is documented")
                if not kinds - set(stated) <= ours:
                    problems.append(f"{name}.{prop}: {sorted(kinds - set(stated) - ours)} not marked")
                if not set(stated) <= kinds or set(stated) & ours:
                    problems.append(f"{name}.{prop}: documented {stated} missing or marked as ours")
                checked += 1
        return problems, checked

    def undocumented_field_problems(self, fields: dict[str, dict[str, list[str]]]) -> tuple[list[str], int]:
        """The other way round: every property the reference data does not list is marked inferred, on itself or on
        its schema. Returns the problems and how many properties carry their own mark."""
        problems: list[str] = []
        marked = 0
        for name, schema in self.doc["components"]["schemas"].items():
            if schema.get("x-provenance") == "inferred":
                continue  # the mark covers every property
            for prop, node in schema.get("properties", {}).items():
                if prop not in fields.get(name, {}):
                    marked += 1
                    if node.get("x-provenance") != "inferred":
                        problems.append(f"{name}.{prop} is not in the docs")
        return problems, marked

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        registry = Registry().with_resource("urn:spec", resource)
        rebased = json.loads(json.dumps(schema).replace('"#/components', '"urn:spec#/components'))
        return Draft202012Validator(rebased, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def examples(self) -> list[Example]:
        """Every example in the document with the schema it claims to satisfy."""
        found: list[Example] = []
        for where, node in walk(self.doc):
            if isinstance(node.get("examples"), list) and "/examples/" not in where:
                found += [(where, node, ex) for ex in node["examples"]]  # schema-level (JSON Schema) examples
            if "schema" in node and isinstance(node.get("examples"), dict):
                found += [
                    (f"{where}/examples/{k}", node["schema"], ex["value"])
                    for k, ex in node["examples"].items()
                    if "value" in ex
                ]
            if "schema" in node and "example" in node:
                found.append((f"{where}/example", node["schema"], node["example"]))
        return found

    def example_problems(self) -> list[str]:
        problems = []
        for where, schema, value in self.examples():
            schema = {k: v for k, v in schema.items() if k != "examples"}
            problems += [
                f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in self.validator(schema).iter_errors(value)
            ]
        return problems

    def unresolved_refs(self) -> list[str]:
        bad = []
        for where, node in walk(self.doc):
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    assert ref.startswith("#/")
                    self.resolve({"$ref": ref})
                except (AssertionError, KeyError, TypeError):
                    bad.append(f"{where}: {ref}")
        return bad
