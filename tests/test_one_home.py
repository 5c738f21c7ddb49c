"""One home per concept: type behaviour lives in dashboard/types.py, audited writes in one
store helper. These scan the source, so a switch on a field's kind or a second INSERT INTO
audit_log written elsewhere fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from dashboard import types as t

PACKAGE = Path(__file__).resolve().parents[1] / "dashboard"
#: Where kinds may be compared: the types themselves and the registry that pairs them.
KIND_HOMES = {"types.py", "fields.py"}
#: Every kind a field type has.
KINDS = {
    cls.kind
    for cls in vars(t).values()
    if isinstance(cls, type) and issubclass(cls, t.FieldType) and hasattr(cls, "kind")
}


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, path.read_text(encoding="utf-8")


def _kind_switches(tree: ast.AST) -> list[int]:
    """Lines comparing something called `kind` with a field kind (or with a name, as
    `f.kind == TOML_FIELD` did)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        left = node.left
        named_kind = (isinstance(left, ast.Attribute) and left.attr == "kind") or (
            isinstance(left, ast.Name) and left.id == "kind"
        )
        if not named_kind:
            continue
        for right in node.comparators:
            consts = [right, *getattr(right, "elts", [])]
            strings = {c.value for c in consts if isinstance(c, ast.Constant)}
            if strings & KINDS or (isinstance(left, ast.Attribute) and isinstance(right, ast.Name)):
                found.append(node.lineno)
    return found


def test_kinds_are_switched_on_only_in_types_and_fields():
    offenders = []
    for path, text in _sources():
        if path.name in KIND_HOMES and path.parent == PACKAGE:
            continue
        offenders += [f"{path.relative_to(PACKAGE)}:{n}" for n in _kind_switches(ast.parse(text))]
    assert not offenders, f"switches on a field kind outside types.py: {offenders}"


def test_the_scan_finds_a_switch():
    # the test must be able to fail: the forms it is meant to catch
    assert _kind_switches(ast.parse('if f.kind == "tags": pass'))
    assert _kind_switches(ast.parse('x = f.kind in ("choice", "country")'))
    assert _kind_switches(ast.parse("if f.kind == TOML_FIELD: pass"))
    assert not _kind_switches(ast.parse('if table.kind == "csv": pass'))


def test_audit_rows_are_written_in_one_place():
    places = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path, text in _sources()
        for n, line in enumerate(text.splitlines(), 1)
        if "insert into audit_log" in line.lower()
    ]
    assert places == ["audit.py:" + places[0].split(":")[1]] and len(places) == 1, places


def test_demo_values_name_registry_fields_and_cover_the_required_ones():
    from dashboard.fields import (
        CONTACT_FIELDS,
        CONTACTS,
        CUSTOMER_FIELDS,
        DEMO_CONTACT_VALUES,
        DEMO_VALUES,
        FIELDS,
    )

    assert set(DEMO_VALUES) <= set(FIELDS)
    assert set(DEMO_CONTACT_VALUES) <= set(CONTACTS)
    for f in CUSTOMER_FIELDS:
        assert f.name in DEMO_VALUES or not f.required or f.default is not None, f.name
    assert {f.name for f in CONTACT_FIELDS} == set(DEMO_CONTACT_VALUES)


def test_demo_data_names_no_customer_field_by_hand():
    # the demo's INSERT column lists come from the registry (usage rows still name theirs)
    text = (PACKAGE / "demo.py").read_text(encoding="utf-8")
    assert "INSERT INTO customers (name" not in text
    assert "sms_opt_out" not in text and "paypal_email" not in text
