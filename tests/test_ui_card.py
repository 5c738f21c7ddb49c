"""The customer card without a browser: add, edit, every invalid input, conflicts, undo."""

from __future__ import annotations

import pytest
from bokeh.document import Document

from dashboard import get_customer, update_customer
from dashboard.customers import find_by_name
from dashboard.ui.app import customers_page


@pytest.fixture
def page(demo):
    p = customers_page(demo, user="ann")
    p.__panel__().get_root(Document())
    return p


@pytest.fixture
def card(page):
    return page.card


def fill(card, **values):
    """Type into the form's fields (by field name)."""
    from dashboard.ui.card import form_key

    card.form.param.update(**{form_key(k): v for k, v in values.items()})


def test_add_through_the_form_shows_in_the_grid(page, card, demo):
    page.toolbar.param.trigger("add")
    assert card.is_open and card._dialog.title == "Add customer"
    fill(card, name="Aardvark Voice Ltd", currency="GBP", channels="1,000", tax="7.5",
         country="GB", tags=["vip"], toml="# routing\n[routing]\nmax_cps = 5\n")  # fmt: skip
    card._contacts.value = card._contacts.value.iloc[0:0]
    card.param.trigger("add_contact")
    frame = card._contacts.value.copy()
    frame.loc[0, ["name", "email", "mobile"]] = ["Ann", "ann@aardvark.example", "07911 123456"]
    card._contacts.value = frame
    card.param.trigger("save")
    assert not card.is_open, card.message
    cid = find_by_name(demo, "aardvark voice ltd")
    c = get_customer(demo, cid)
    assert (c["channels"], str(c["tax"]), c["country"], c["tags"]) == (
        1000,
        "7.5000",
        "GB",
        ["vip"],
    )
    assert c["toml"] == "# routing\n[routing]\nmax_cps = 5\n"
    assert c["contacts"][0]["mobile"] == "+447911123456"
    assert "Saved Aardvark Voice Ltd" in page.message and page.notices._undo.visible
    page.view.sort = [["name", "asc"]]
    assert page.grid.table.value["name"].iloc[0] == "Aardvark Voice Ltd"


def test_every_invalid_input_is_shown_at_its_field_and_nothing_is_written(page, card, demo):
    existing = demo.scalar("SELECT name FROM customers ORDER BY id LIMIT 1")
    before = demo.scalar("SELECT count(*) FROM customers")
    page.toolbar.param.trigger("add")
    fill(card, name=f"  {existing.upper()} ", currency=None, tax="101", channels="-2",
         paypal_email="not-an-email", toml="[a]\nb = = 1\n")  # fmt: skip
    card.param.trigger("add_contact")
    frame = card._contacts.value.copy()
    frame.loc[0, ["name", "mobile"]] = ["Bob", "+44 12"]
    card._contacts.value = frame
    card.param.trigger("save")
    assert card.is_open
    w = card._widgets
    assert w["name"].error_state and "already used" in w["name"].helper_text
    assert w["tax"].error_state and "at most 100" in w["tax"].helper_text
    assert w["channels"].error_state and "at least 0" in w["channels"].helper_text
    assert w["paypal_email"].error_state
    assert w["currency"].error_state and "required" in w["currency"].helper_text
    assert w["toml"].annotations and w["toml"].annotations[0]["row"] == 1
    assert "line 2" in card._toml_error.object
    assert "Contact 1" in card._contact_errors.object and "phone" in card._contact_errors.object
    assert "Nothing was saved" in card._alert.object
    assert demo.scalar("SELECT count(*) FROM customers") == before


def test_edit_from_a_click_on_the_name_keeps_currency_fixed(page, card, demo):
    page.view.sort = [["name", "asc"]]
    page.grid._on_click(type("E", (), {"row": 0, "column": "name"})())
    cid = int(page.grid.table.value["id"].iloc[0])
    assert card.is_open and card.customer_id == cid and card._widgets["currency"].disabled
    page.view.page = 2  # the user's page and sort survive the save
    fill(card, channels="77", currency="XXX")
    card.param.trigger("save")
    assert get_customer(demo, cid)["channels"] == 77
    assert get_customer(demo, cid)["currency"] != "XXX"
    assert page.view.page == 2 and page.view.sort == [["name", "asc"]]
    card.open_customer(cid)  # history is read when the card opens
    history = card._history.value
    assert "Channels" in set(history["field"]) and "ann" in set(history["user"])


def test_a_second_editor_is_refused_and_can_reload(page, card, demo):
    cid = demo.scalar("SELECT min(id) FROM customers")
    card.open_customer(cid)
    update_customer(demo, cid, {"channels": 4321}, user="bob")
    fill(card, tax="3")
    card.param.trigger("save")
    assert card.is_open and card._reload_btn.visible
    assert "bob" in card._alert.object and "Channels" in card._alert.object
    assert get_customer(demo, cid)["tax"] != 3
    card.param.trigger("reload")
    assert card.form.channels == "4321"
    fill(card, tax="3")
    card.param.trigger("save")
    assert not card.is_open and str(get_customer(demo, cid)["tax"]) == "3.0000"


def test_cancel_writes_nothing(page, card, demo):
    before = demo.scalar("SELECT count(*) FROM batches")
    page.toolbar.param.trigger("add")
    fill(card, name="Never Saved", currency="EUR")
    card.param.trigger("cancel")
    # typed data is not thrown away without asking
    assert card.is_open and card._discard_bar.visible
    card.param.trigger("keep_editing")
    assert card.is_open and not card._discard_bar.visible
    card._dialog.open = False  # Escape or the close button, in the browser
    assert card.is_open and card._discard_bar.visible
    card.param.trigger("discard")
    assert not card.is_open and demo.scalar("SELECT count(*) FROM batches") == before


def test_an_untouched_card_closes_at_once(page, card):
    card.open_customer(1)
    card._dialog.open = False  # Escape
    assert not card.is_open and not card._discard_bar.visible
    card.open_customer(1)
    card.param.trigger("cancel")
    assert not card.is_open


def test_history_and_messages_tabs_have_their_columns_from_the_start(card, demo):
    assert list(card._history.value.columns) == list(card._history.titles)
    assert list(card._messages.value.columns) == list(card._messages.titles)
    card.open_customer(1)
    card.form.param.update(city="Elsewhere")
    card.param.trigger("save")
    card.open_customer(1)
    history = card._history.value
    assert list(history.columns) == ["at", "user", "action", "field", "old", "new", "batch_id"]
    assert "Elsewhere" in history["new"].tolist()


def test_remove_contacts_and_add_a_new_tag(card, demo):
    cid = demo.scalar("SELECT customer_id FROM contacts GROUP BY 1 HAVING count(*) = 3 LIMIT 1")
    card.open_customer(cid)
    card._contacts.selection = [0, 2]
    card.param.trigger("remove_contacts")
    card.new_tag = "brand-new"
    card._add_tag()
    card.param.trigger("save")
    c = get_customer(demo, cid)
    assert len(c["contacts"]) == 1 and "brand-new" in c["tags"]


def test_undo_from_the_page_after_a_delete(page, demo):
    before = demo.scalar("SELECT count(*) FROM customers")
    page.grid.table.selection = [0, 1, 2]
    page.toolbar.param.trigger("delete")
    page.delete_dialog.param.trigger("confirm")
    assert demo.scalar("SELECT count(*) FROM customers") == before - 3
    page.notices.param.trigger("undo")
    assert demo.scalar("SELECT count(*) FROM customers") == before
    assert "Undid batch" in page.message and page.total == before
