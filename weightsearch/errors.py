"""The one exception type that the CLI turns into a plain ``error:`` line and exit code 2."""

from __future__ import annotations


class WeightsearchError(Exception):
    """Bad input from the user: a task that can't be loaded, an invalid option, an unusable storage.

    The message is shown as is after ``error:``; it states the rule, what was given and the fix.
    """
