"""Rules that keep the screen stack sane when keys arrive faster than screens open and close.

A terminal delivers keys as fast as they are typed, or all at once after a pause; Textual
hands each to whatever screen is on top when it gets to it. Two things went wrong:

* ``Screen.dismiss`` pops the *top* screen, whichever it is, after calling this screen's result
  callback. A second Enter that reached a prompt already closed (its ``Input.Submitted`` was
  queued) closed the notice under it, and a third popped the last screen: ``ScreenStackError``.
* A key repeated before the screen it opens was up (``n n``, ``ctrl+c ctrl+q``) opened a
  second copy on top of the first.

So a dialog closes only itself, only while it is on top; and a screen never goes on the stack
above another of its own kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.await_complete import AwaitComplete
from textual.screen import Screen


class ClosesOnlyItself:
    """Mix into a :class:`Screen` that dismisses itself (from a key, a button, a worker)."""

    def dismiss(self, result: Any = None) -> AwaitComplete:
        screen: Screen[Any] = self  # type: ignore[assignment]
        if not screen.is_active:
            # Closed already, or another screen is above it: the late key or result has
            # nothing left to answer, and popping would close that other screen.
            return AwaitComplete.nothing()
        return super().dismiss(result)  # type: ignore[misc, no-any-return]


def stacked_already(stack: Sequence[Screen[Any]], screen: Screen[Any]) -> bool:
    """Whether a screen of the same kind is on the stack (so ``screen`` must not be pushed)."""
    return any(type(other) is type(screen) for other in stack)
