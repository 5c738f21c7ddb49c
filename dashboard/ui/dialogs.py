"""Dialogs that close as people expect (Escape, their close button, Cancel) but ask first
while they hold typed data that would be lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn
import panel_material_ui as pmui
import param

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
