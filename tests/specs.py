"""Reading an OpenAPI document in tests: walk it, resolve refs, validate values against its schemas, list examples.

Shared by the spec tests of both APIs so that "every example validates" means the same thing for each.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parent.parent
METHODS = {"get", "post", "put", "patch", "delete"}
Example = tuple[str, dict[str, Any], Any]  # where, schema, value


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
        self.doc = yaml.safe_load(self.path.read_text())

    def operations(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(p, m, op) for p, item in self.doc["paths"].items() for m, op in item.items() if m in METHODS]

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

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
