"""Temporary authoring tool: merge _base.yaml + part files into openapi/xentree.yaml, or check one part.

    python openapi/parts/merge.py --check openapi/parts/content.yaml
    python openapi/parts/merge.py            # writes openapi/xentree.yaml from all parts
"""
import json
import sys
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

HERE = Path(__file__).parent
PARTS = ["identity", "content", "orgs_analytics", "english_live"]


def load(p):
    return yaml.safe_load(Path(p).read_text())


def merge(parts):
    base = load(HERE / "_base.yaml")
    for part in parts:
        data = load(part)
        for path, item in (data.get("paths") or {}).items():
            base["paths"].setdefault(path, {}).update(item)
        for name, schema in ((data.get("components") or {}).get("schemas") or {}).items():
            assert name not in base["components"]["schemas"], f"duplicate schema {name}"
            base["components"]["schemas"][name] = schema
    return base


def walk(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}/{i}")


def resolve(spec, ref):
    node = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def check(spec):
    problems = []
    text = json.dumps(spec)
    if "TODO" in text:
        problems.append("TODO left in: " + ", ".join(p for p, n in walk(spec) if any(v == "TODO" or v == "#/components/schemas/TODO" for v in n.values())))
    for p, node in walk(spec):
        ref = node.get("$ref")
        if isinstance(ref, str):
            try:
                resolve(spec, ref)
            except KeyError:
                problems.append(f"unresolved $ref {ref} at {p}")
    try:
        validate(spec)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"openapi-spec-validator: {str(exc)[:800]}")
    # examples validate against their schemas
    from referencing import Registry, Resource
    registry = Registry().with_resource("urn:spec", Resource.from_contents(spec, default_specification=__import__("referencing.jsonschema").jsonschema.DRAFT202012))

    def validator_for(schema):
        wrapped = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": "urn:spec#" + p_schema(schema)} if False else None
        return Draft202012Validator(schema, registry=registry)

    def fix_refs(schema):
        return json.loads(json.dumps(schema).replace('"#/components', '"urn:spec#/components'))

    for name, schema in spec["components"]["schemas"].items():
        v = Draft202012Validator(fix_refs(schema), registry=registry)
        for ex in schema.get("examples", []):
            for err in v.iter_errors(ex):
                problems.append(f"schema {name} example: {err.message} at {list(err.absolute_path)}")
        for p, node in walk(schema):
            if "examples" in node and isinstance(node["examples"], list) and p and "properties" in p:
                sub = Draft202012Validator(fix_refs(node), registry=registry)
                for ex in node["examples"]:
                    for err in sub.iter_errors(ex):
                        problems.append(f"schema {name}{p} example {ex!r}: {err.message}")
    for path, item in spec["paths"].items():
        for method, op in item.items():
            media_nodes = []
            if "requestBody" in op:
                media_nodes += list(op["requestBody"].get("content", {}).items())
            for code, resp in op.get("responses", {}).items():
                if "$ref" in resp:
                    continue
                media_nodes += list(resp.get("content", {}).items())
            for mt, media in media_nodes:
                schema = media.get("schema")
                if not schema:
                    continue
                v = Draft202012Validator(fix_refs(schema), registry=registry)
                for ex_name, ex in (media.get("examples") or {}).items():
                    for err in v.iter_errors(ex.get("value")):
                        problems.append(f"{method.upper()} {path} {mt} example {ex_name}: {err.message}")
                if "example" in media:
                    for err in v.iter_errors(media["example"]):
                        problems.append(f"{method.upper()} {path} {mt} example: {err.message}")
    return problems


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        spec = merge([sys.argv[2]])
        # Schemas owned by other parts may be referenced; stub them so the check is local.
        probs = [p for p in check(spec) if "unresolved $ref" not in p or "/schemas/" not in p]
        unresolved = [p for p in check(spec) if "unresolved $ref" in p]
        print("\n".join(probs) or "OK: no problems")
        if unresolved:
            print("NOTE (must be defined by another part or you):\n" + "\n".join(unresolved))
        sys.exit(1 if probs else 0)
    spec = merge([HERE / f"{p}.yaml" for p in PARTS])
    probs = check(spec)
    out = HERE.parent / "xentree.yaml"
    out.write_text(yaml.safe_dump(spec, sort_keys=False, width=120, allow_unicode=True))
    print("\n".join(probs) or "OK", f"\nwrote {out}")
