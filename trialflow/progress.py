"""Progress messages of the pipeline's stages.

The pipeline reports what it is doing through a callback, ``progress(message)``, with one
argument, a text (:data:`Progress`). Where a stage knows how far it is (the third of seven
domains mapped), the message is a :class:`Step`: still a ``str``, so a callback that prints or
collects texts gets exactly the text it got before, and a callback that draws a progress bar
reads the stage, how many steps are done and how many there are.

Nothing here prints; the CLI renders the messages (plain lines, or bars on a terminal).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "Step", "say"]

Progress = Callable[[str], None]
"""A progress callback: called with each message (a ``str``, often a :class:`Step`)."""


class Step(str):
    """A progress message that also names its stage and how far the stage is.

    ``done`` steps of ``total`` are finished when the message is sent (the message says what
    the next one is); ``total`` None is a stage whose length is not known beforehand.

    Example:
        >>> s = Step("mapping LB from sheet LAB", stage="mapping", done=3, total=8)
        >>> s, s.stage, s.done, s.total
        ('mapping LB from sheet LAB', 'mapping', 3, 8)
        >>> f"  {s}"
        '  mapping LB from sheet LAB'
    """

    stage: str
    done: int
    total: int | None

    def __new__(cls, message: str, *, stage: str, done: int = 0, total: int | None = None):
        self = super().__new__(cls, message)
        self.stage = stage
        self.done = done
        self.total = total
        return self

    def __reduce__(self):  # pickles as the Step it is
        return (_step, (str(self), self.stage, self.done, self.total))


def _step(message: str, stage: str, done: int, total: int | None) -> Step:
    return Step(message, stage=stage, done=done, total=total)


def say(
    progress: Progress | None,
    message: str,
    *,
    stage: str | None = None,
    done: int = 0,
    total: int | None = None,
) -> None:
    """Send ``message`` to ``progress`` (nothing when it is None), as a :class:`Step` of
    ``stage`` when one is named.

    Example:
        >>> seen = []
        >>> say(seen.append, "writing dm", stage="writing SDTM", done=1, total=15)
        >>> say(None, "nobody listens")
        >>> seen, seen[0].stage
        (['writing dm'], 'writing SDTM')
    """
    if progress is None:
        return
    progress(message if stage is None else Step(message, stage=stage, done=done, total=total))
