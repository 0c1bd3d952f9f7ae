"""Errors the harness reports to users in one readable line (no traceback)."""

from __future__ import annotations

__all__ = ["MfbenchError", "UnknownNameError", "DataError", "DeviceUnavailable", "PluginError", "Interrupted"]


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


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C (``SIGINT``) or ``SIGTERM``: raised like Ctrl-C, so that both stop a
    run the same way. ``record`` is the running cell's ``interrupted`` record, when an executor
    stopped one."""

    def __init__(self, signal_name: str = "SIGINT", record: dict | None = None):
        super().__init__(signal_name)
        self.signal_name, self.record = signal_name, record

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
        return 143 if self.signal_name == "SIGTERM" else 130
