"""The one error type users see: the CLI prints its message on one line and exits non-zero."""

from __future__ import annotations


class XrdplugError(Exception):
    """A problem with the user's input or environment, stated so that they know what to do."""

    exit_code: int = 2


class PluginError(XrdplugError):
    """A plugin is missing, unusable or broken."""
