"""Error types shared by the library and the CLI.

``UserError`` marks a problem with what the user gave (a flag, a file, a preset name): the CLI reports
it in one line and exits with status 2. It subclasses ``ValueError`` so that library callers that catch
``ValueError`` keep working. Any other exception reaching the CLI is a bug: exit status 1, one line, and
the traceback with ``mobigen --debug``.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user (flag value, input file, preset name); the message names the field."""


__all__ = ["UserError"]
