"""Dialogs that close as people expect (Escape, their close button, Cancel) but ask first
while they hold typed data that would be lost, and that say what is opening while their
content is made."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn
import panel_material_ui as pmui
import param
from panel.custom import JSComponent
from panel.io.state import set_curdoc

from .controls import Button
from .safe import Notice

#: A dialog's `sx`: while it fades out (after Escape) a click goes to the page. Its fading
#: backdrop took a person's first click on + (or any button) and nothing opened.
FADING_SX = {"&:has(> .MuiBackdrop-root[style*='opacity: 0'])": {"pointerEvents": "none"}}


def dialog(*objects: Any, title: str, **params: Any) -> pmui.Dialog:
    """A Material UI dialog that Escape, a click beside it and its close button (X) close."""
    params = {"open": False, "close_on_click": True, "show_close_button": True,
              "sizing_mode": "stretch_width", **params}  # fmt: skip
    params["sx"] = {**FADING_SX, **(params.get("sx") or {})}
    return pmui.Dialog(*objects, title=title, **params)


#: What a box's content is painted on, so that the line under it does not show through.
_PAPER = "var(--mui-palette-background-paper, #fff)"


def css_string(text: str) -> str:
    """`text` as a CSS string: every character but ASCII letters, digits and spaces
    escaped (a customer's name is anybody's text, and it goes into a style sheet)."""
    kept = (c if (c.isascii() and c.isalnum()) or c == " " else f"\\{ord(c):x} " for c in text)
    return '"' + "".join(kept) + '"'


#: Watches a dialog's or drawer's content box until its content has text on screen, then
#: marks the box (`data-cd-drawn`, which shows the content at once, in that same frame) and
#: tells the server (`drawn`), which then styles the content shown for good (Material UI
#: makes the box afresh at each open, without the mark).
_DRAWN_JS = r"""
function boxOf(el) {
  let node = el;
  while (node) {
    const box = node.closest && node.closest(".MuiDialogContent-root, .MuiDrawer-paper");
    if (box) return box;
    const root = node.getRootNode();
    node = root && root.host ? root.host : null;
  }
  return null;
}
function hasText(root) {
  const walk = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
  for (let n = walk.currentNode; n; n = walk.nextNode()) {
    if (n.nodeType === 3) {
      const p = n.parentElement;
      if (n.textContent.trim() && p && !p.closest("button, style, script")) {
        const r = p.getBoundingClientRect();
        if (r.width > 0 && r.height > 0) return true;
      }
    } else if (n.shadowRoot && hasText(n.shadowRoot)) return true;
  }
  return false;
}
export function render({ model, el }) {
  el.style.display = "none";
  if (model.drawn) return;
  const host = el.getRootNode().host;
  const t0 = performance.now();
  const look = () => {
    const box = boxOf(el);
    const parts = box ? [...box.children].slice(model.head).filter((c) => !c.contains(host)) : [];
    // at most 5 s: content that never shows text is shown all the same
    if (parts.some(hasText) || performance.now() - t0 > 5000) {
      if (box) box.setAttribute("data-cd-drawn", "");
      model.drawn = true;
      return;
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}
"""


class ContentDrawn(JSComponent):
    """An invisible part of an `Opening`'s content that says when the content has text on
    screen (see `_DRAWN_JS`)."""

    head = param.Integer(default=0, doc="How many of the box's first children are its head.")
    drawn = param.Boolean(default=False, doc="Whether the content has shown text.")

    _esm = _DRAWN_JS


class Opening:
    """One home of what a dialog or a drawer shows while its content is made: a line saying
    what is opening ("Opening Bulk Upload…"), drawn with the dialog's own frame, and the
    content drawn over it once made.

    The line is the content box's own `::before` (Material UI draws it with the dialog,
    in the same frame): a component of its own was drawn a second after the dialog's
    frame, which stood empty meanwhile. The line and the content share one cell of a CSS
    grid, the content on top on the paper's colour, so the line is under the content until
    the content is drawn, and there is no moment between the two with nothing in the box:
    replaced by the content in one update, the line went at once and the content came
    seconds later (an empty dialog; a CI flake). The content is hidden until it has text on
    screen (`ContentDrawn` says when): drawn in parts, it covered the line with its first,
    textless parts for 45-700 ms, a blank box to the eye. A drawn content covers it for
    good; the line is then left out of what screen readers read.

    `holder` is a `pmui.Dialog` (its content box is the dialog's content) or a
    `pmui.Drawer` (its paper); the first `head` of its objects (a drawer's Close button)
    stand above the line and are kept when the content is put in (`made`)."""

    def __init__(self, holder: pmui.Dialog | pmui.Drawer, *, head: int = 0, min_height: int = 120):
        self._holder = holder
        self._head = head
        self._min_height = min_height
        self._sx = dict(holder.sx or {})
        self._box = "& .MuiDialogContent-root" if isinstance(holder, pmui.Dialog) else "&"
        self.text = ""
        self._read = True  # whether screen readers read the line (until content is made)
        self._drawn = ContentDrawn(head=head)
        self._drawn.param.watch(lambda _e: self._restyle(), "drawn")
        holder.sx = self._style()

    def _style(self) -> dict:
        row = f"{self._head + 1} / 1"
        line = {"gridArea": row, "minHeight": f"{self._min_height}px", "padding": "16px 8px",
                "fontSize": "1rem", "lineHeight": 1.5, "color": "text.primary", "boxSizing": "border-box"}  # fmt: skip
        if self.text:
            # read while the content is made; "/ ''" leaves it out once the content is on it
            line["content"] = css_string(self.text) + ("" if self._read else ' / ""')
        content = f"& > div:nth-child(n + {self._head + 1}) > *"
        box = {
            "display": "grid", "gridTemplateColumns": "minmax(0, 1fr)", "alignContent": "start",
            "&::before": line,
            # every child after the head: in the line's cell, on top of it, as tall as it is
            # drawn (stretched, a child not drawn yet would cover the line with nothing)
            content: {"gridArea": row, "alignSelf": "start", "background": _PAPER, "zIndex": 1},
        }  # fmt: skip
        if not self._drawn.drawn:
            # hidden (not hit, the line seen through it) until it has text on screen: the
            # browser marks the box in the very frame the text comes
            box[f"&:not([data-cd-drawn]) > div:nth-child(n + {self._head + 1}) > *"] = {
                "visibility": "hidden"}  # fmt: skip
        if self._box == "&":
            return {**self._sx, **box}
        # the holder's own rules for the content box (the card's scroll padding) are kept
        return {**self._sx, self._box: {**self._sx.get(self._box, {}), **box}}

    def _restyle(self) -> None:
        self._holder.sx = self._style()

    def say(self, text: str) -> None:
        """The line says `text` (until content is drawn over it)."""
        self.text, self._read = text, True
        self._holder.sx = self._style()

    def made(self, *content: Any) -> None:
        """Put `content` in the holder, over the line (kept under it, out of screen readers'
        way), shown once it has text on screen."""
        self._read = False
        head = list(self._holder.objects[: self._head])
        self._holder.param.update(sx=self._style(), objects=[*head, *content, self._drawn])

    @staticmethod
    def soon(make: Callable[[], None]) -> bool:
        """Run `make` in the next tick of the session's document, once what is on screen
        now (the frame and its line) has gone out to the browser; at once when no browser
        waits (a notebook, a test). Whether it was put off."""
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            make()
            return False

        def later() -> None:
            with set_curdoc(doc):  # so that the changes go out as this session's
                make()

        doc.add_next_tick_callback(later)
        return True


def follow_typing(widget: Any) -> Any:
    """Let `typed(widget)` see what the person types into `widget` before they leave it.

    A text box gives its `value` when it is left, but reports each key as `value_input`:
    Escape pressed in the box closes its dialog before the value comes, so a dirty check
    reading `value` would let the typing be thrown away without asking. `value_input` itself
    is no witness of typing: some boxes (the code editor) do not follow `value` set from
    Python, so a box filled from the database holds a stale `value_input` until the browser
    echoes it. Only a `value_input` that arrives after the last `value`, and differs from it,
    is typing."""
    if "value_input" not in widget.param:
        return widget

    def keyed(event: Any) -> None:
        widget._typing = None if event.new == widget.value else event.new

    def left(event: Any) -> None:
        widget._typing = None

    widget._typing = None
    widget.param.watch(keyed, "value_input")
    widget.param.watch(left, "value")
    return widget


def typed(widget: Any) -> Any:
    """What a box holds as the person typed it (see `follow_typing`): the typing not yet
    given as its `value`, or its `value`."""
    now = getattr(widget, "_typing", None)
    return widget.value if now is None else now


class CloseGuard(pn.viewable.Viewer):
    """Keeps `dialog` open when it is closed (in the browser or by Cancel) while `dirty()`
    says it holds unsaved typing, and asks: Keep editing, or Discard changes.

    The one home of ask-before-discard: the card, Send and the upload wizard use it, each
    with its own wording (`question`, `keep_label`, `discard_label`). `on_discard` runs
    instead of closing when a person discards (it may refuse, and must call `close()`
    itself); `on_close` runs after every close (to clear what the dialog showed)."""

    keep_editing = param.Event(label="Keep editing", doc="Go back to the form.")
    discard = param.Event(label="Discard changes", doc="Close and forget what was typed.")

    def __init__(
        self,
        dialog: pmui.Dialog,
        dirty: Callable[[], bool],
        *,
        question: str = "You have changes that are not saved.",
        keep_label: str = "Keep editing",
        keep_help: str = "Go back to the form",
        discard_label: str = "Discard changes",
        discard_help: str = "Close and forget what was typed",
        on_discard: Callable[[], None] | None = None,
        on_close: Callable[[], None] | None = None,
        **params: Any,
    ):
        super().__init__(**params)
        self._dialog = dialog
        self._dirty = dirty
        self._on_discard = on_discard
        self._on_close = on_close
        self._closing = False
        self._words = (question, keep_label, keep_help, discard_label, discard_help)
        # the question's notice and buttons are made when it is first asked: most dialogs
        # close untouched, and each Material UI part costs the first open ~20 ms
        # the buttons go under the question where a line holds not all (a phone: in one
        # row the question was squeezed to nothing)
        self._bar = pn.FlexBox(visible=False, sizing_mode="stretch_width", flex_wrap="wrap",
                               align_items="center", margin=0)  # fmt: skip
        dialog.param.watch(self._on_open, "open")

    @property
    def asking(self) -> bool:
        """Whether the question is on screen."""
        return self._bar.visible

    def close(self) -> None:
        """Close the dialog without asking (after a save, or once discarded)."""
        self._closing = True
        try:
            self._dialog.open = False
        finally:
            self._closing = False
        self._bar.visible = False
        if self._on_close is not None:
            self._on_close()

    def request_close(self) -> None:
        """Cancel: close, or ask first while there is unsaved typing."""
        if self._dirty():
            self._ask()
        else:
            self.close()

    def _ask(self) -> None:
        if not self._bar.objects:
            question, keep_label, keep_help, discard_label, discard_help = self._words
            self._bar.objects = [
                Notice(
                    object=question, severity="warning", min_width=220, styles={"flex": "1 1 220px"}
                ),  # fmt: skip
                Button.from_param(
                    self.param.keep_editing,
                    label=keep_label,
                    variant="outlined",
                    description=keep_help,
                ),  # fmt: skip
                Button.from_param(
                    self.param.discard,
                    label=discard_label,
                    color="warning",
                    variant="contained",
                    description=discard_help,
                ),  # fmt: skip
            ]
        self._bar.visible = True

    def reset(self) -> None:
        """The dialog opens afresh: no question on screen."""
        self._bar.visible = False

    def _on_open(self, event) -> None:
        # closed in the browser (Escape, X, a click beside it) with unsaved typing: keep it
        # open and ask
        if not event.new and not self._closing and self._dirty():
            self._ask()
            self._dialog.open = True

    @param.depends("keep_editing", watch=True)
    def _keep(self) -> None:
        self._bar.visible = False

    @param.depends("discard", watch=True)
    def _discard(self) -> None:
        if self._on_discard is not None:
            self._on_discard()
        else:
            self.close()

    def __panel__(self):
        return self._bar
