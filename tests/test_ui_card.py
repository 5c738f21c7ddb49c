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
    fill(card, channels="77", debit_limit="1234.5", currency="XXX")
    card.param.trigger("save")
    assert get_customer(demo, cid)["channels"] == 77
    assert get_customer(demo, cid)["currency"] != "XXX"
    assert page.view.page == 2 and page.view.sort == [["name", "asc"]]
    card.open_customer(cid)  # history is read when the card opens
    history = card._history.value
    assert "Channels" in set(history["field"]) and "ann" in set(history["user"])
    # as the page shows a Debit Limit ("1,234.50"), not as stored ("1234.5000")
    assert history.loc[history["field"] == "Debit Limit", "new"].iloc[0] == "1,234.50"


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
    assert card.is_open and card._guard.asking
    card._guard.param.trigger("keep_editing")
    assert card.is_open and not card._guard.asking
    card._dialog.open = False  # Escape or the close button, in the browser
    assert card.is_open and card._guard.asking
    card._guard.param.trigger("discard")
    assert not card.is_open and demo.scalar("SELECT count(*) FROM batches") == before


def test_an_untouched_card_closes_at_once(page, card):
    card.open_customer(1)
    card._dialog.open = False  # Escape
    assert not card.is_open and not card._guard.asking
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
    # plain sentences: the batch ids are in More › Changes, for whoever looks one up
    assert page.message == "Deleted 3 customers."
    page.notices.param.trigger("undo")
    assert demo.scalar("SELECT count(*) FROM customers") == before
    assert page.message == "Undone: Deleted 3 customers, putting back the 3 customers it deleted."
    assert page.total == before


# --- problems at their cells, tab markers, the currency picker, conflicts (issue #15) ---


def _contact_rows(card, *rows):
    """Put these contact rows (dicts of contact fields) into the grid."""
    for _ in rows:
        card.param.trigger("add_contact")
    frame = card._contacts.value.copy()
    for i, row in enumerate(rows):
        for k, v in row.items():
            frame.loc[i, k] = v
    card._contacts.value = frame


def test_problems_are_at_their_cells_and_counted_in_the_tab_titles(page, card):
    from dashboard.ui.card import BAD_CELL

    page.toolbar.param.trigger("add")
    assert card.tab_titles[:5] == ["Basic", "Config", "Address", "Verification", "Contacts"]
    fill(card, name="Marked Cells Ltd", currency="EUR", tax="101", paypal_email="nope",
         toml='[a]\nb = "unclosed\n')  # fmt: skip
    _contact_rows(card, {"name": "Ann", "email": "ann@marked.example"},
                  {"name": "Bob", "mobile": "+44 12"})  # fmt: skip
    card.param.trigger("save")
    assert card.is_open and "Nothing was saved" in card._alert.object
    assert card.tab_titles[:5] == ["Basic (1)", "Config (2)", "Address", "Verification",
                                   "Contacts (1)"]  # fmt: skip
    assert card._tabs.active == 0  # the first tab holding a problem
    assert (
        card._toml_error.object
        == "line 2, column 5: a string is not closed (its closing quote is missing)"
    )
    assert card._widgets["toml"].annotations[0]["row"] == 1
    # the contact's problem is at its row and column (a marked cell), and said under the grid
    frame = card._contacts.value
    styles = card._contact_styles(frame)
    assert styles.loc[1, "mobile"] == BAD_CELL and styles.loc[0, "mobile"] == ""
    assert card._contact_errors.object.startswith("Contact 2 (Bob), Mobile “+44 12”: is not")
    # fixing a field takes its mark away, and the tab's count with it
    fill(card, tax="7")
    assert not card._widgets["tax"].error_state and card.tab_titles[0] == "Basic"
    card._contact_edited(type("E", (), {"row": 1, "column": "mobile"})())
    assert card.tab_titles[4] == "Contacts" and card._contact_errors.object == ""
    # the cell keeps its mark until the next save: restyling would redraw the grid under
    # the person's typing
    assert card._contact_styles(frame).loc[1, "mobile"] == BAD_CELL


def test_the_first_tab_with_a_problem_is_opened(page, card):
    page.toolbar.param.trigger("add")
    fill(card, name="Only Contacts Wrong", currency="GBP")
    _contact_rows(card, {"name": "Cy", "email": "not-an-email"})
    card.param.trigger("save")
    assert card._tabs.active == card.tab_titles.index("Contacts (1)")
    assert card._contact_errors.object.startswith("Contact 1 (Cy), Email “not-an-email”")


def test_a_switch_has_a_line_for_its_message(card):
    card.new()
    card._problems = {"portal_access": "bob saved no here"}
    card._render_problems()
    under = card._under["portal_access"]
    assert under.visible and under.object == "bob saved no here"
    assert card.tab_titles[1] == "Config (1)"


def test_the_currency_picker_offers_billing_currencies_and_puts_the_code_typed_first(card, demo):
    card.new()
    picker = card._widgets["currency"]
    codes = set(picker.options.values())
    assert {"EUR", "USD", "XAF", "XOF"} <= codes
    assert not codes & {"CHE", "USN", "BOV", "XBA", "XAU", "XDR", "XTS", "XXX"}
    picker.filter_str = "eur"  # what the person typed into the picker's search
    assert list(picker.options)[1] == "EUR — Euro"
    picker.filter_str = "nad"  # "Ca-nad-ian Dollar" comes first in code order
    assert list(picker.options)[1] == "NAD — Namibia Dollar"
    fill(card, currency="NAD")
    assert picker.filter_str == ""  # a pick empties the search for the next opening
    # a customer holding an unusual code (an old import) still shows it
    cid = demo.scalar("SELECT min(id) FROM customers")
    demo.execute_write("UPDATE customers SET currency = 'CHE' WHERE id = ?", [cid])
    card.open_customer(cid)
    assert card.form.currency == "CHE" and picker.options["CHE — WIR Euro"] == "CHE"
    card.new()
    assert "CHE — WIR Euro" not in picker.options


def test_reload_after_a_conflict_keeps_your_own_edits(page, card, demo):
    cid = demo.scalar("SELECT min(id) FROM customers")
    before = get_customer(demo, cid)
    card.open_customer(cid)
    # bob saves channels, city, tax and portal access after the card opened
    update_customer(demo, cid, {"channels": 4321, "city": "Bobton", "tax": "5",
                                "portal_access": not before["portal_access"]}, user="bob")  # fmt: skip
    # this person changed region (bob did not), tax and portal access (bob did too)
    fill(card, region="Mine Region", tax="9", portal_access=not before["portal_access"])
    fill(card, portal_access=before["portal_access"])  # ...and back: untouched
    fill(card, tax="9", region="Mine Region")
    card.new_tag = "mine-tag"
    card._add_tag()
    card.param.trigger("save")
    assert card._reload_btn.visible and "bob" in card._alert.object
    card.param.trigger("reload")
    assert card.is_open
    assert card.form.channels == "4321" and card.form.city == "Bobton"  # theirs, not touched here
    assert card.form.region == "Mine Region" and "mine-tag" in card.form.tags  # mine, kept
    assert card.form.tax == "9"  # changed by both: mine is kept, theirs is said under it
    assert card._widgets["tax"].error_state
    assert card._widgets["tax"].helper_text.startswith("bob saved 5 here")
    assert card.tab_titles[0] == "Basic (1)" and card._tabs.active == 0
    assert "changed by both" in card._alert.object and card.dirty
    card.param.trigger("save")
    assert not card.is_open, card.message
    after = get_customer(demo, cid)
    assert (after["channels"], after["city"], after["region"], str(after["tax"])) == (
        4321, "Bobton", "Mine Region", "9.0000")  # fmt: skip
    assert "mine-tag" in after["tags"] and after["portal_access"] != before["portal_access"]


def test_reload_takes_their_contacts_when_yours_are_untouched(page, card, demo):
    cid = demo.scalar("SELECT customer_id FROM contacts GROUP BY 1 HAVING count(*) = 2 LIMIT 1")
    card.open_customer(cid)
    theirs = [{"name": "Only Bob's", "email": "bob@contacts.example"}]
    update_customer(demo, cid, {"city": "Contact City"}, theirs, user="bob")
    fill(card, region="Kept")
    card.param.trigger("save")
    card.param.trigger("reload")
    assert [c["name"] for c in card.contacts()] == ["Only Bob's"] and card.form.region == "Kept"
    assert card.tab_titles[4] == "Contacts"


def test_known_tags_are_read_once_per_change(demo):
    from dashboard.customers import known_tags

    first = known_tags(demo)
    cache = demo.attached("known_tags", lambda: None)
    assert cache is not None and cache.get((demo.change_token(), 500)) == first
    from dashboard import add_customer

    add_customer(demo, {"name": "Tagged Anew", "currency": "EUR", "tags": ["zz-brand-new"]})
    assert "zz-brand-new" in known_tags(demo)
