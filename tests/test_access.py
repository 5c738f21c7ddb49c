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
from dashboard.access import ACTIONS, ROLES, Actor, PermissionDenied, allowed
from dashboard.errors import UserError
from dashboard.messaging import plan_send, queue, send_test
from dashboard.query import View
from dashboard.settings import Settings
from dashboard.ui.app import customers_page
from dashboard.ui.setup import SettingsPage
from dashboard.users import add_user, remove_user, set_password, set_role
from dashboard.views import delete_view, load_view, save_view


def test_the_role_ladder():
    assert [a for a in ACTIONS if allowed("viewer", a)] == ["read", "export", "save_view"]
    assert [a for a in ACTIONS if not allowed("editor", a)] == [
        "delete", "send", "settings", "rates", "users", "views"]  # fmt: skip
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
    buttons = page.toolbar.buttons
    assert {k for k in keys if buttons[k].visible} == shown
    assert buttons["refresh"].visible and page.toolbar._more.visible  # More holds SQL and Code


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


def _sheet(tmp_path, name):
    sheet = tmp_path / f"{name}.csv"
    sheet.write_text(f"Company,Currency\n{name} Import Co,EUR\n{name} Two Ltd,USD\n")
    return sheet


def test_undo_needs_the_role_of_what_it_reverses(demo, tmp_path):
    """Undoing an add or import deletes customers: an editor may take back only their own;
    undoing a delete re-creates customers: admins only; a send cannot be undone."""
    count = "SELECT count(*) FROM customers"
    n = demo.scalar(count)
    # an editor may not delete, so may not delete another user's import through Undo
    _, theirs = import_file(demo.acting_as("ana", "admin"), _sheet(tmp_path, "Ana"))
    with pytest.raises(PermissionDenied, match="needs the admin role"):
        undo(demo.acting_as("ed", "editor"), theirs.batch_id)
    _, other_editors = import_file(demo.acting_as("eve", "editor"), _sheet(tmp_path, "Eve"))
    with pytest.raises(PermissionDenied, match="deletes the customers it added"):
        undo(demo.acting_as("ed", "editor"), other_editors.batch_id)
    added = add_customer(demo.acting_as("eve", "editor"), {"name": "Eve Add", "currency": "EUR"})
    with pytest.raises(PermissionDenied):
        undo(demo.acting_as("ed", "editor"), added.batch_id)
    assert demo.scalar(count) == n + 5
    # their own import and add: yes
    _, own = import_file(demo.acting_as("ed", "editor"), _sheet(tmp_path, "Ed"))
    undo(demo.acting_as("ed", "editor"), own.batch_id)
    mine = add_customer(demo.acting_as("ed", "editor"), {"name": "Ed Add", "currency": "EUR"})
    undo(demo.acting_as("ed", "editor"), mine.batch_id)
    # someone else's edit is an edit to reverse: editors may
    edit = update_customer(demo.acting_as("ana", "admin"), 1, {"channels": 77})
    undo(demo.acting_as("ed", "editor"), edit.batch_id)
    # a delete: only an admin brings the customers back
    gone = delete_customers(demo.acting_as("ana", "admin"), [5, 6])
    with pytest.raises(PermissionDenied, match="re-creates the customers it deleted"):
        undo(demo.acting_as("ana", "editor"), gone.batch_id)
    assert demo.scalar(count) == n + 3
    undo(demo.acting_as("al", "admin"), gone.batch_id)
    # an admin may undo anyone's import
    undo(demo.acting_as("al", "admin"), other_editors.batch_id)
    assert demo.scalar(count) == n + 3
    admin = demo.acting_as("ana", "admin")
    sent = queue(admin, plan_send(admin, [1], "email", "Hi {name}", "Hello"), dry_run=True)
    with pytest.raises(UserError, match="cannot be undone"):
        undo(admin, sent)


def test_settings_and_test_messages_are_checked_by_the_service(tmp_path, smtp):
    inbox, port = smtp
    path = tmp_path / "settings.toml"
    settings = Settings.load(path)
    settings.update({"email": {"from": "noc@carrier.example", "host": "127.0.0.1",
                               "port": port, "security": "none"}})  # fmt: skip
    for role in ("viewer", "editor"):
        with pytest.raises(PermissionDenied, match="may not change the settings"):
            settings.save(by=Actor("someone", role))
        with pytest.raises(PermissionDenied, match="may not send messages"):
            send_test(settings, "email", "ops@carrier.example", by=Actor("someone", role))
    assert not path.exists() and inbox.messages == []
    settings.save(by=Actor("ana", "admin"))
    assert send_test(settings, "email", "ops@carrier.example", by=Actor("ana", "admin"))
    assert len(inbox.messages) == 1


def test_a_saved_view_is_deleted_or_replaced_by_its_owner_or_an_admin(store):
    view = View(groups=["country"])
    save_view(store.acting_as("vic", "viewer"), "by country", view)
    save_view(store.acting_as("ana", "admin"), "admins' view", view)
    for name in ("by country", "admins' view"):
        with pytest.raises(PermissionDenied, match="other people's saved views"):
            delete_view(store.acting_as("eve", "editor"), name)
    with pytest.raises(PermissionDenied):
        save_view(store.acting_as("eve", "editor"), "by country", View(groups=["currency"]))
    assert load_view(store, "by country").to_json() == view.to_json()
    delete_view(store.acting_as("vic", "viewer"), "by country")
    delete_view(store.acting_as("al", "admin"), "admins' view")
    with pytest.raises(UserError, match="no saved view"):
        delete_view(store.acting_as("vic", "viewer"), "by country")


def test_a_session_store_stops_at_a_password_role_or_account_change(demo):
    add_user(demo, "ana", "admin", "ana's long password")
    ed = add_user(demo, "ed", "editor", "an editor's password")
    session = demo.acting_as("ed", "editor", ed.generation)
    update_customer(session, 1, {"channels": 5})
    for change in (lambda: set_password(demo, "ed", "another long password"),
                   lambda: set_role(demo, "ed", "admin"), lambda: remove_user(demo, "ed")):  # fmt: skip
        change()
        with pytest.raises(PermissionDenied, match="session of ed has ended"):
            update_customer(session, 1, {"channels": 6})
        gen = demo.scalar("SELECT generation FROM users WHERE name = 'ed'")
        if gen is not None:
            role = demo.scalar("SELECT role FROM users WHERE name = 'ed'")
            session = demo.acting_as("ed", role, gen)
            update_customer(session, 1, {"channels": 7})
    assert demo.scalar("SELECT channels FROM customers WHERE id = 1") == 7
