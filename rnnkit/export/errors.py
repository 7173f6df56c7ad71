"""The error of an export that cannot be made, checked or run, worded for the user."""

from __future__ import annotations

from rnnkit.errors import RnnkitError


class ExportError(RnnkitError, ValueError):
    """A run that cannot be exported as asked, an export that failed its check, or an export
    directory that cannot be read; the message names the graph, file or value and what to do."""


def missing_packages(packages: list[str], purpose: str) -> ExportError:
    """The error for optional packages (rnnkit's ``export`` extra) that are not installed."""
    plural, verb = ("s", "are") if len(packages) > 1 else ("", "is")
    return ExportError(
        f"{purpose} needs the Python package{plural} {', '.join(packages)}, which {verb} not "
        "installed",
        "install rnnkit's export extra: pip install 'rnnkit[export]'",
    )
