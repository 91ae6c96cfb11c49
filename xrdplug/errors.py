"""The one error type users see: the CLI prints its message on one line and exits non-zero."""

from __future__ import annotations


class XrdplugError(Exception):
    """A problem with the user's input or environment, stated so that they know what to do."""

    exit_code: int = 2


class UnreadableError(XrdplugError):
    """The file is not in the format its reader expects (the host then names every format it tried)."""


class PluginError(XrdplugError):
    """A plugin is missing, unusable or broken."""


def reason(exc: BaseException, limit: int = 200) -> str:
    """A library exception as one short line (C++ parsers write multi-line messages with carets)."""
    text = " ".join(str(exc).split())
    return (text or type(exc).__name__)[:limit]
