"""Errors the harness reports to users in one readable line (no traceback)."""

from __future__ import annotations

__all__ = ["MfbenchError", "UnknownNameError", "DataError", "DeviceUnavailable", "PluginError"]


class MfbenchError(Exception):
    """An error caused by the user's input or environment; the CLI prints it without a traceback."""


class UnknownNameError(MfbenchError, KeyError):
    """A plugin name that nothing registered; the message lists the known names."""

    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, known
        super().__init__(f"unknown {kind} {name!r}; known {kind}s: {', '.join(sorted(known)) or '(none)'}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


class DataError(MfbenchError, ValueError):
    """A ratings file or dataset that cannot be read as it is: names the file, line and value."""


class DeviceUnavailable(MfbenchError, RuntimeError):
    """A device that was asked for and is not usable here: says what is missing and how to install it."""


class PluginError(MfbenchError):
    """A plugin that breaks the contract (for example two plugins offering the same name)."""
