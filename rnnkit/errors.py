"""Errors a user can fix, by class, and how a command reports them: one line and an exit code.

Every error rnnkit raises for a user to fix is a :class:`RnnkitError`. Its message names the
cause (file, line, column, value) and then what to do; an option that would fix it is an
:class:`OptionHint`, shown as a Python argument (``fill='ffill'``) in ``str(err)`` and as a flag
(``--fill ffill``) on the command line, where it is left out if the command has no such flag.

=========================  ====  ==========================================================
class                      exit  raised for
=========================  ====  ==========================================================
:class:`UsageError`        2     options that do not fit together, a command used wrongly
:class:`ConfigError`       1     a config value out of range, an unknown or changed option
:class:`DataError`         1     an input file that cannot be used (file and line named)
:class:`TaskError`         1     a task's options, inputs or run that do not fit (the task layer)
:class:`DownloadError`     1     a dataset file that cannot be downloaded or fails its checksum
:class:`RunDirError`       1     an output directory that is not usable (foreign, a file...)
:class:`RunLockedError`    1     a run directory in use by another process (its pid named)
:class:`CheckpointError`   1     a weights, vocabulary or checkpoint file missing or corrupted
:class:`IntegrityError`    1     a file whose sha256 differs from the one recorded
:class:`WriteError`        1     disk full, permission denied or read-only while writing FILE
:class:`Interrupted`       130   Ctrl-C or SIGTERM (a ``KeyboardInterrupt``)
=========================  ====  ==========================================================

Each class also derives from the built-in exception its users caught before (``ValueError``,
``RuntimeError``, ``OSError``, ``KeyboardInterrupt``), so existing ``except`` clauses still work.

:func:`run_command` is what a command-line entry point wraps its work in: it turns any
exception into one line on stderr and the exit code of its class, and prints the traceback too
with ``debug=True`` or ``RNNKIT_DEBUG=1``. Exceptions that are not user errors (bugs) get one
line saying so, exit code 1, and the same way to see the traceback.
"""

from __future__ import annotations

import errno
import os
import re
import sys
import traceback
from collections.abc import Callable, Container, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

EXIT_ERROR = 1
"""Exit code of data, config, run-directory and write errors (and of unexpected errors)."""
EXIT_USAGE = 2
"""Exit code of usage errors (the same as argparse's)."""
EXIT_INTERRUPTED = 130
"""Exit code after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)."""

MAX_MESSAGE = 2000
"""Longest message printed (characters); longer ones are cut, so one line stays one line."""


@dataclass(frozen=True)
class OptionHint:
    """An option that fixes an error, rendered for Python callers or for the command line."""

    name: str
    """The Python argument or config field, e.g. ``"fill"``; its flag is ``--fill``."""
    values: tuple[Any, ...] = (True,)
    """Values to suggest; ``(True,)`` is a switch (``skip_empty=True``, ``--skip-empty``)."""
    purpose: str = ""
    """What the option does, e.g. ``"to fill such values"``."""
    metavar: str | None = None
    """A placeholder instead of values, e.g. ``"DIR"`` (``data_dir=DIR``, ``--data-dir DIR``)."""

    @property
    def flag(self) -> str:
        """The command-line flag: ``--`` and the name with dashes."""
        return "--" + self.name.replace("_", "-")

    def python(self) -> str:
        """``fill='ffill', 'interpolate' or 'zero'``."""
        if self.metavar is not None:
            return f"{self.name}={self.metavar}"
        return f"{self.name}=" + _alternatives([repr(v) for v in self.values])

    def cli(self) -> str:
        """``--fill ffill|interpolate|zero``."""
        if self.metavar is not None:
            return f"{self.flag} {self.metavar}"
        if self.values == (True,):
            return self.flag
        return f"{self.flag} " + "|".join(str(v) for v in self.values)


def _alternatives(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


class RnnkitError(Exception):
    """A problem the user can fix: its cause, what to do, and optionally an option that fixes it.

    Args:
        cause: what went wrong and where (file, line, column, value).
        fix: what to do about it (always shown), e.g. "choose another --out directory".
        option: an option that fixes it (shown when the caller has it, see :meth:`render`).
    """

    exit_code: int = EXIT_ERROR
    """Process exit code of this class of error."""

    def __init__(self, cause: str, fix: str = "", *, option: OptionHint | None = None) -> None:
        self.cause, self.fix, self.option = cause, fix, option
        super().__init__(self.render())

    def render(self, cli: bool = False, flags: Container[str] | None = None) -> str:
        """The message, with the option as a Python argument or, with ``cli``, as a flag.

        Args:
            cli: name the option by its command-line flag.
            flags: the flags the command has; an option whose flag is not among them is left
                out (None: assume it exists).
        """
        option = self.option
        if option is not None and cli and flags is not None and option.flag not in flags:
            option = None
        parts = [self.fix] if self.fix else []
        if option is not None:
            shown = option.cli() if cli else option.python()
            clause = f"pass {shown}" + (f" {option.purpose}" if option.purpose else "")
            parts.append(f"or {clause}" if parts else clause)
        return self.cause + ("; " + (", " if len(parts) > 1 else "").join(parts) if parts else "")

    def __str__(self) -> str:
        return self.render()

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (DataLoader workers) as the plain message
        return (type(self), (str(self),))


class UsageError(RnnkitError, ValueError):
    """Options that do not fit together, or a command used in a way it cannot work."""

    exit_code = EXIT_USAGE


class ConfigError(RnnkitError, ValueError):
    """A configuration value out of its range, an unknown key, or a change refused on resume."""


class DataError(RnnkitError, ValueError):
    """A data file could not be parsed; the message names the file and, where known, the line."""


class TaskError(RnnkitError, ValueError):
    """A task's options, inputs or run directory that do not fit together, worded for the user.

    What the task layer (``rnnkit.tasks``, ``rnnkit.runs``) raises where no narrower class fits:
    a run of another task, an input a predictor cannot take, a split the run's data lacks.
    """


class DownloadError(RnnkitError, RuntimeError):
    """A file could not be downloaded, or its checksum did not match."""


class RunDirError(RnnkitError, ValueError):
    """An output or run directory that cannot be used as asked (foreign, a file, no run...)."""


class RunLockedError(RunDirError):
    """The run directory is locked by another live process (training or resuming in it)."""


class CheckpointError(RnnkitError, RuntimeError):
    """A checkpoint, weights or vocabulary file is missing, corrupted or does not match."""


class IntegrityError(CheckpointError):
    """A file's sha256 differs from the one recorded when it was written."""


class WriteError(RnnkitError, OSError):
    """Writing a file failed for a reason outside rnnkit: disk full, permissions, read-only.

    Args:
        code: the ``errno`` of the failure (``errno.ENOSPC``...).
        path: the file being written.
    """

    def __init__(self, code: int | str, path: str | os.PathLike | None = None) -> None:
        if isinstance(code, str):  # unpickling: the rendered message
            RnnkitError.__init__(self, code)
            return
        reason, fix = _WRITE_ERRNOS.get(code, (os.strerror(code).lower(), ""))
        where = f" while writing {path}" if path is not None else ""
        RnnkitError.__init__(self, f"{reason}{where}", fix)
        self.errno, self.strerror = code, os.strerror(code)
        self.filename = None if path is None else str(path)


class Interrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C or SIGTERM; the message says what was saved and how to resume.

    A ``KeyboardInterrupt``, so ``except Exception`` clauses let it through.
    """

    exit_code = EXIT_INTERRUPTED


_SPACE_FIX = "free some space or write somewhere else"
_WRITE_ERRNOS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on device", _SPACE_FIX),
    errno.EDQUOT: ("disk quota exceeded", _SPACE_FIX),
    errno.EFBIG: ("file too large for the file system or the process's file size limit", ""),
    errno.EACCES: ("permission denied", "check the permissions, or write somewhere else"),
    errno.EPERM: ("operation not permitted", "check the permissions, or write somewhere else"),
    errno.EROFS: ("read-only file system", "write somewhere else"),
    errno.EIO: ("input/output error (failing disk or lost network file system?)", ""),
}
WRITE_ERRNOS = frozenset(_WRITE_ERRNOS)
_WRITE_ONLY = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
"""The ``errno`` values that :func:`writing` turns into a :class:`WriteError`."""

# how libraries that do their own I/O report the OS error in their message text:
# safetensors (Rust) "... (os error 28)", Python "[Errno 28] ..."
_ERRNO_IN_TEXT = re.compile(r"\(os error (\d+)\)|\[Errno (\d+)\]")


def os_error_in(err: BaseException) -> int | None:
    """The ``errno`` behind ``err``: its own, one in its cause/context chain, or one in its text.

    torch reports a failed write of ``torch.save`` to a file object as a RuntimeError ("unexpected
    pos ...") whose context is the OSError; safetensors puts "(os error N)" in its message.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and isinstance(current.errno, int):
            return current.errno
        found = _ERRNO_IN_TEXT.search(str(current))
        if found:
            return int(found.group(1) or found.group(2))
        current = current.__cause__ or current.__context__
    return None


@contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn a disk-full, permission or read-only failure inside the block into a WriteError.

    Args:
        path: the file being written (named in the message).

    Raises:
        WriteError: the block failed with one of :data:`WRITE_ERRNOS` (from the OS, or wrapped
            by torch or safetensors); any other exception passes through unchanged.
    """
    try:
        yield
    except WriteError:
        raise
    except Exception as err:
        code = os_error_in(err)
        if code not in WRITE_ERRNOS:
            raise
        raise WriteError(code, path) from err


# ------------------------------------------------------------------ reporting on the command line
def debug_enabled(debug: bool = False) -> bool:
    """Whether tracebacks are wanted: ``--debug`` given, or ``RNNKIT_DEBUG`` set (not "0")."""
    return debug or os.environ.get("RNNKIT_DEBUG", "") not in ("", "0")


def exit_code(err: BaseException) -> int:
    """The exit code for ``err``: its class's, 130 for any interruption, else 1."""
    code = getattr(err, "exit_code", None)
    if isinstance(code, int) and isinstance(err, RnnkitError | Interrupted):
        return code
    if isinstance(err, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_ERROR


def describe(err: BaseException, flags: Container[str] | None = None) -> str:
    """One line for the user: the message of a user error, or a bug report hint for the rest.

    Args:
        err: the exception.
        flags: the command's flags, to name options as flags (see :meth:`RnnkitError.render`).
    """
    if isinstance(err, RnnkitError):
        text = err.render(cli=True, flags=flags)
    elif isinstance(err, KeyboardInterrupt):
        text = str(err) or "interrupted"
    elif isinstance(err, OSError) and err.errno in _WRITE_ONLY:  # no reading fails like these
        text = str(WriteError(err.errno, err.filename))
    elif isinstance(err, OSError) and err.errno is not None and err.strerror:
        reason = err.strerror[0].lower() + err.strerror[1:]
        text = f"{err.filename}: {reason}" if err.filename else reason
        if err.errno in (errno.EACCES, errno.EPERM):
            text += "; check its permissions"
    elif isinstance(err, ValueError | FileNotFoundError | NotADirectoryError | IsADirectoryError):
        text = str(err)  # the library's own checks: messages written for users
    elif isinstance(err, MemoryError) or "out of memory" in str(err).lower():
        text = f"out of memory ({_first_line(err)}); try a smaller batch size or model"
    else:
        text = (
            f"unexpected {type(err).__name__}: {_first_line(err)} (this is probably a bug in "
            "rnnkit: please report it with the traceback that --debug or RNNKIT_DEBUG=1 prints)"
        )
    text = " ".join(text.split()) or type(err).__name__
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def report(
    err: BaseException,
    prog: str,
    debug: bool = False,
    flags: Container[str] | None = None,
    file: TextIO | None = None,
) -> int:
    """Print ``err`` as ``PROG: error: MESSAGE`` (and the traceback when debugging).

    Args:
        err: the exception.
        prog: the command, e.g. ``"rnnkit train"``.
        debug: print the traceback first (also with ``RNNKIT_DEBUG=1``).
        flags: the command's flags (see :func:`describe`).
        file: where to print (default: stderr).

    Returns:
        The exit code (:func:`exit_code`).
    """
    file = sys.stderr if file is None else file
    if debug_enabled(debug):
        traceback.print_exception(type(err), err, err.__traceback__, file=file)
    message = describe(err, flags)
    if not isinstance(err, KeyboardInterrupt):
        message = f"error: {message}"
    elif message != "interrupted":
        message = f"interrupted: {message}"
    file.write(f"{prog}: {message}\n")
    file.flush()
    return exit_code(err)


def run_command(
    work: Callable[[], int | None],
    prog: str,
    debug: bool = False,
    flags: Container[str] | None = None,
) -> int:
    """Run a command's work and turn every failure into one line and an exit code.

    Args:
        work: the command; its return value (None: 0) is the exit code.
        prog: the command's name in messages, e.g. ``"rnnkit train"``.
        debug: also print tracebacks (``--debug``; ``RNNKIT_DEBUG=1`` works too).
        flags: the command's flags, so hints name real flags.

    Returns:
        The exit code: the work's, or that of the exception's class (see the module docstring).
        ``SystemExit`` passes through.
    """
    try:
        return int(work() or 0)
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - the command line's last word on every error
        return report(err, prog, debug, flags)
