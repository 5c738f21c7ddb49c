"""Roles are enforced by the service functions (called directly as a user of each role) and
reflected in the page (a button a role may not use is not shown)."""

from __future__ import annotations

import pytest
from bokeh.document import Document

from dashboard import (
    add_customer,
    add_demo_customers,
    bulk_edit,
    delete_customers,
    import_file,
    undo,
    update_customer,
)
from dashboard.access import ACTIONS, ROLES, PermissionDenied, allowed
from dashboard.messaging import plan_send, queue
from dashboard.ui.app import customers_page
from dashboard.ui.setup import SettingsPage
from dashboard.users import add_user


def test_the_role_ladder():
    assert [a for a in ACTIONS if allowed("viewer", a)] == ["read", "export", "save_view"]
    assert {a for a in ACTIONS if allowed("editor", a)} == {
        "read", "export", "save_view", "add", "edit", "bulk_edit", "import", "undo"}  # fmt: skip
    assert all(allowed("admin", a) for a in ACTIONS)
    assert not allowed(None, "read") and not allowed("root", "read")


def _as(store, role):
    return store.acting_as(f"a-{role}", role)


WRITES = {
    "add": lambda s: add_customer(s, {"name": "Role Test Ltd", "currency": "USD"}),
    "edit": lambda s: update_customer(s, 1, {"channels": 7}),
    "bulk_edit": lambda s: bulk_edit(s, [1, 2], {"channels": "+1"}),
    "delete": lambda s: delete_customers(s, [3]),
    "send": lambda s: queue(s, plan_send(s, [1], "email", "Hi {name}", "Hello"), dry_run=True),
    "users": lambda s: add_user(s, "someone", "viewer", "long enough password"),
    "import": lambda s: add_demo_customers(s, 5),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(WRITES))
def test_service_functions_refuse_what_a_role_may_not_do(demo, role, action):
    acting = _as(demo, role)
    before = demo.rows("SELECT count(*), sum(channels) FROM customers")
    if allowed(role, action):
        WRITES[action](acting)
        return
    with pytest.raises(PermissionDenied, match=f"a-{role} \\({role}\\) may not"):
        WRITES[action](acting)
    assert demo.rows("SELECT count(*), sum(channels) FROM customers") == before


def test_import_and_undo_need_the_editor_role(demo, tmp_path):
    sheet = tmp_path / "x.csv"
    sheet.write_text("Company,Currency\nViewer Import Co,EUR\n")
    with pytest.raises(PermissionDenied):
        import_file(_as(demo, "viewer"), sheet)
    _, batch = import_file(_as(demo, "editor"), sheet)
    with pytest.raises(PermissionDenied):
        undo(_as(demo, "viewer"), batch.batch_id)
    undo(_as(demo, "editor"), batch.batch_id)


def test_writes_are_recorded_as_the_signed_in_user(demo):
    batch = update_customer(_as(demo, "editor"), 1, {"channels": 9})
    who = demo.scalar("SELECT user_name FROM batches WHERE batch_id = ?", [batch.batch_id])
    assert who == "a-editor"
    acting = _as(demo, "admin")
    batch_id = queue(acting, plan_send(acting, [1], "email", "Hi {name}", "Hello"), dry_run=True)
    assert set(demo.df("SELECT user_name FROM messages WHERE batch_id = ?", [batch_id])
               .user_name) == {"a-admin"}  # fmt: skip


def test_an_acting_store_does_not_close_the_connection(demo):
    _as(demo, "viewer").close()
    assert demo.scalar("SELECT count(*) FROM customers") == 400


def _page(store, role):
    page = customers_page(_as(store, role))
    page.__panel__().get_root(Document())
    return page


@pytest.mark.parametrize(
    ("role", "shown"),
    [("viewer", set()), ("editor", {"add", "upload", "bulk_edit"}),
     ("admin", {"add", "upload", "bulk_edit", "delete", "send"})],
)  # fmt: skip
def test_the_page_shows_only_what_the_role_may_use(demo, role, shown):
    page = _page(demo, role)
    keys = {"add", "upload", "bulk_edit", "delete", "send"}
    assert {k for k in keys if page._buttons[k].visible} == shown
    assert page._buttons["refresh"].visible and page._buttons["sql"].visible


def test_a_viewer_reads_the_card_but_cannot_save(demo):
    page = _page(demo, "viewer")
    page.card.open_customer(1)
    save = [b for b in page.card._actions.objects if b.label == "Save"][0]
    assert not save.visible
    page.card.save = True
    assert "may not edit customers" in page.card.message


def test_settings_are_for_admins(tmp_path):
    page = SettingsPage(path=str(tmp_path / "settings.toml"), role="editor")
    page.save = True
    assert page.message == "Only admins may change the settings."
    assert not (tmp_path / "settings.toml").exists()
