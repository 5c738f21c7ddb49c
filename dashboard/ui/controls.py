"""Buttons whose accessible name starts with what they say.

Material UI buttons as Panel wraps them take their `description` as their accessible name
(`aria-label`) and tooltip, and `from_param` fills it with the parameter's docstring: the
Refresh button was announced as "Reload from the database.", so screen readers and voice
control ("click Refresh") could not find it by its label. These buttons keep the help text
but put the visible label first: "Refresh: reload from the database".
"""

from __future__ import annotations

from typing import Any

import panel_material_ui as pmui

#: A tooltip the pointer passes through. Material UI's tooltips are interactive (they stay
#: open while the pointer is on them) and panel-material-ui places them right of the
#: control: moving from "Expand all" to "Collapse all" the pointer landed on the first's
#: tooltip, which stayed open over the second and took its click. Not interactive, a
#: tooltip closes as the pointer leaves its control (Material UI's `disableInteractive`,
#: which panel-material-ui does not pass on; its tooltip lives in the control's shadow root).
TOOLTIP_CSS = ".MuiTooltip-popper { pointer-events: none !important; }"


def labelled(label: str, description: str) -> str:
    """A description that starts with the visible `label` ("Refresh: reload ...")."""
    label, description = (label or "").strip(), (description or "").strip().rstrip(".")
    if not label:
        return description
    if not description or description.casefold() == label.casefold():
        return label
    if description.casefold().startswith(label.casefold()):
        return description
    return f"{label}: {description[:1].lower()}{description[1:]}"


class _NamedByLabel:
    """Keeps `description` starting with `label` whenever either changes."""

    _help = ""
    _made = None

    def _name_by_label(self, *_: Any) -> None:
        text = (self.description or "").strip()
        if text != self._made:  # set from outside: the new help text
            self._help = text
        self._made = labelled(self.label, self._help)
        if self._made != self.description:
            self.description = self._made

    def _watch_name(self) -> None:
        if TOOLTIP_CSS not in self.stylesheets:
            self.stylesheets = [*self.stylesheets, TOOLTIP_CSS]
        self._name_by_label()
        self.param.watch(self._name_by_label, ["label", "description"])


class Button(_NamedByLabel, pmui.Button):
    """A Material UI button named by its label (see the module's docstring)."""

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._watch_name()


class Download(_NamedByLabel, pmui.FileDownload):
    """A Material UI download button named by its label."""

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._watch_name()


class Menu(_NamedByLabel, pmui.MenuButton):
    """A Material UI menu button named by its label."""

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._watch_name()
