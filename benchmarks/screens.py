"""Screenshots of every screen at a laptop, a large laptop and a phone size, for people to
look at before a change to the page is called done.

    python benchmarks/screens.py [--n 10000] [--out screenshots/screens] [--only card]

Serves a demo database in a subprocess, drives Debian's Chromium through Playwright, and
writes one PNG per screen and size: grid, groups, pivot with chart, each card tab, each
upload step the wizard shows, bulk edit, send, delete, SQL, code, filters, columns,
messages, settings.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard import View  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, button, goto_ready, served  # noqa: E402

SIZES = {"1280x720": (1280, 720), "1440x900": (1440, 900), "390x844": (390, 844)}
#: Writing is for the desk: on a phone the page offers no Bulk Upload, Bulk Edit, Send or
#: Delete (README, "On a phone"), so there is nothing of them to photograph there.
DESK_ONLY = ("upload", "bulk-edit", "send", "delete", "upload-opening")


def _tick(pg) -> None:
    pg.locator(".tabulator-row").first.get_by_role("checkbox").check()
    pg.get_by_text("1 customer selected").wait_for()


def _open(pg, label: str) -> None:
    button(pg, label).first.click()
    pg.get_by_role("dialog").first.wait_for()
    pg.wait_for_timeout(800)


def _more(pg, item: str) -> None:
    button(pg, "More").first.click()
    pg.get_by_role("menuitem", name=item).click()
    pg.get_by_role("dialog").first.wait_for()
    pg.wait_for_timeout(800)


def screens(url: str) -> dict:
    """name -> (path to open, what to do there) for every screen."""
    grouped = View(groups=["country"], values=[["credit", "sum"]]).url(url + "/")
    pivot = View(groups=["status"], pivot="currency", values=[["credit", "sum"]]).url(url + "/")
    out = {
        "grid": (url + "/", None),
        "groups": (grouped, None),
        "pivot-chart": (pivot + "&chart=stacked", None),
        "group-opened": (grouped, lambda pg: (
            pg.locator(".tabulator-cell[tabulator-field='c0']").first.click(),
            pg.get_by_text(re.compile("^Customers with")).wait_for())),
        "filters": (url + "/", lambda pg: (button(pg, "Filters").first.click(),
                                           pg.wait_for_timeout(800))),
        "columns": (url + "/", lambda pg: (button(pg, "Columns").first.click(),
                                           pg.wait_for_timeout(800))),
        "upload": (url + "/", lambda pg: _open(pg, "Bulk Upload")),
        "bulk-edit": (url + "/", lambda pg: (_tick(pg), _open(pg, "Bulk Edit"))),
        "send": (url + "/", lambda pg: (_tick(pg), _open(pg, "Send"))),
        "delete": (url + "/", lambda pg: (_tick(pg), _open(pg, "Delete"))),
        "sql": (url + "/", lambda pg: _more(pg, "SQL")),
        "code": (url + "/", lambda pg: _more(pg, "Code")),
        "selected": (url + "/", _tick),
        "all-selected": (url + "/", lambda pg: (
            _tick(pg), button(pg, "Select all").first.click(),
            pg.get_by_text(re.compile(r"^[\d,]+ customers selected")).first.wait_for())),
        # the first opens' frames, while what they open is made and drawn
        "card-opening": (url + "/", lambda pg: (
            pg.locator(".tabulator-cell[tabulator-field='name']").first.click(),
            pg.get_by_text(re.compile("^Opening ")).first.wait_for())),
        "upload-opening": (url + "/", lambda pg: (
            button(pg, "Bulk Upload").first.click(),
            pg.get_by_text("Opening Bulk Upload…").first.wait_for())),
        "messages": (url + "/messages", None),
        "settings": (url + "/settings", None),
    }  # fmt: skip
    for tab in ("Basic", "Config", "Address", "Verification", "Contacts", "History", "Messages"):
        out[f"card-{tab.lower()}"] = (url + "/", lambda pg, tab=tab: (
            pg.locator(".tabulator-cell[tabulator-field='name']").first.click(),
            pg.get_by_role("dialog").wait_for(),
            pg.get_by_role("tab", name=re.compile(f"^{tab}")).click(),
            pg.wait_for_timeout(800)))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="demo customers (default 10000)")
    parser.add_argument("--out", default="screenshots/screens", help="folder for the PNGs")
    parser.add_argument("--only", default="", help="only screens whose name contains this")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        served(Path(tmp) / "customers.duckdb", demo=args.n) as url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, (path, action) in screens(url).items():
            if args.only and args.only not in name:
                continue
            for size, (w, h) in SIZES.items():
                if w < 700 and name in DESK_ONLY:
                    continue
                context = browser.new_context(viewport={"width": w, "height": h})
                pg = context.new_page()
                try:
                    goto_ready(pg, path) if "/messages" not in path and "/settings" not in path \
                        else (pg.goto(path), pg.wait_for_selector("button >> visible=true"))  # fmt: skip
                    pg.wait_for_timeout(1000)
                    if action:
                        action(pg)
                    pg.screenshot(path=str(out / f"{name}-{size}.png"))
                    print(f"{name}-{size}.png")
                except Exception as exc:  # a screen that fails is reported, the rest go on
                    print(f"{name}-{size}: FAILED {type(exc).__name__}: {str(exc)[:200]}")
                finally:
                    context.close()
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
