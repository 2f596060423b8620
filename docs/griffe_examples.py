"""A Griffe extension for the API pages: trialflow's docstrings title their doctest section
``Example:``, which Google style (as Griffe reads it) takes for an admonition; read it as the
``Examples:`` section, so that the ``>>>`` lines render as code (mkdocs.yml loads it)."""

from __future__ import annotations

import re
from typing import Any

import griffe

_TITLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename each docstring's ``Example:`` section title to ``Examples:``."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _TITLE.sub(r"\1Examples:", obj.docstring.value)
