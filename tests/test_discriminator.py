"""The mock's `oneOf` with an OpenAPI discriminator (`spec.SpecValidator`) answers exactly what JSON Schema's `oneOf`
answers: it checks only the named branch when no other branch could match, and falls back to every branch otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mock_server.resources import spec_path
from mock_server.spec import SpecValidator, load_spec


def branch(kind: str, field: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["kind", field],
        "properties": {"kind": {"const": kind}, field: {"type": "integer", "minimum": 0}},
        **extra,
    }


SCHEMA = {
    "oneOf": [branch("a", "x"), branch("b", "y"), {**branch("c", "z"), "properties": {"kind": {"enum": ["c", "C"]}}}],
    "discriminator": {"propertyName": "kind"},
}
# A branch that leaves `kind` open: an instance may match it and a named branch at once, which `oneOf` refuses.
OPEN = {"oneOf": [branch("a", "x"), {"type": "object", "required": ["x"]}], "discriminator": {"propertyName": "kind"}}

INSTANCES = [
    {"kind": "a", "x": 1},
    {"kind": "a", "x": -1},
    {"kind": "a", "y": 1},
    {"kind": "b", "y": 2},
    {"kind": "b", "x": 2},
    {"kind": "c", "z": 0},
    {"kind": "C", "z": 0},
    {"kind": "d", "x": 1},
    {"kind": None, "x": 1},
    {"kind": ["a"], "x": 1},
    {"kind": {"a": 1}, "x": 1},
    {"x": 1},
    {},
    [],
    "a",
    None,
    7,
]


def messages(validator: Draft202012Validator, instance: Any) -> list[str]:
    return sorted(e.message for e in validator.iter_errors(instance))


@pytest.mark.parametrize("schema", [SCHEMA, OPEN], ids=["exclusive", "open-branch"])
@pytest.mark.parametrize("instance", INSTANCES, ids=repr)
def test_it_accepts_and_refuses_exactly_what_one_of_does(schema: dict[str, Any], instance: Any) -> None:
    assert SpecValidator(schema).is_valid(instance) == Draft202012Validator(schema).is_valid(instance)


def test_a_named_branch_reports_its_own_errors() -> None:
    """What the 400's issues are built from: the named branch's errors, as the mock reported them before (it picked
    the discriminated branch out of `oneOf`'s context)."""
    errors = list(SpecValidator(SCHEMA).iter_errors({"kind": "b", "y": -3}))
    assert [(e.message, list(e.absolute_path), list(e.relative_schema_path)) for e in errors] == [
        ("-3 is less than the minimum of 0", ["y"], ["oneOf", 1, "properties", "y", "minimum"])
    ]


def test_a_value_no_branch_names_gets_one_of_s_answer() -> None:
    (error,) = SpecValidator(SCHEMA).iter_errors({"kind": "d", "x": 1})
    assert error.validator == "oneOf" and error.context


def test_an_open_branch_keeps_the_double_match_refused() -> None:
    both = {"kind": "a", "x": 1}  # the named branch and the open one
    assert not SpecValidator(OPEN).is_valid(both)
    assert messages(SpecValidator(OPEN), both) == messages(Draft202012Validator(OPEN), both)


def test_the_ledger_s_caliper_events_validate_as_before() -> None:
    """The spec's own discriminated union: each documented example, and each example given another event's
    `type`, is judged as plain `oneOf` judges it."""
    spec = load_spec(spec_path("xp-ledger"))
    body = spec.by_id["sendCaliperEvents"].body
    assert body is not None
    schema = body.media["application/json"].schema
    events = schema["oneOf"][0]
    examples = [example for b in events["oneOf"] for example in b.get("examples", [])]
    assert len(examples) >= len(events["oneOf"])
    kinds = [b["properties"]["type"]["const"] for b in events["oneOf"]]
    for example in examples:
        for kind in kinds:
            instance = {**example, "type": kind}
            assert SpecValidator(schema).is_valid(instance) == Draft202012Validator(schema).is_valid(instance)
        assert SpecValidator(schema).is_valid(example)
