"""What a resumed run may change: comparing a resolved config with the one a run saved.

Resuming continues the saved optimizer, weights and data position, so almost every option must
stay as it was: a different ``hidden_size`` cannot load the weights, a different data file or
batch size would make the data position meaningless. :data:`RESUMABLE` lists the options that may
change; :func:`config_changes` lists the others that differ, and
:func:`check_resume_config` refuses them all in one message, before anything is written.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rnnkit.errors import ConfigError

_MISSING = object()

RESUMABLE: dict[str, str] = {
    "trainer.epochs": "any",  # continue further, or stop sooner
    "trainer.patience": "set",  # early stopping's patience (not switched on or off)
    "trainer.device": "any",  # resume on another machine
    "trainer.checkpoint_every": "any",
    "*.data_dir": "any",  # where a named dataset's files are found (same files, another place)
    "*.eval_batch_size": "any",  # evaluation only: does not change training
}
"""Options that may differ on resume (dotted paths of the task config; ``*`` matches one
section), with a rule: ``"any"`` change, or ``"set"``: a new value but not None <-> a value
(a callback with saved state would appear or disappear)."""


@dataclass(frozen=True)
class Change:
    """One option that differs between the saved config and the new one."""

    path: str
    """Dotted path of the option, e.g. ``"model.hidden_size"``."""
    saved: Any
    """Its value in the run's config.json (``None`` also when absent)."""
    new: Any
    """Its value now."""

    @property
    def flag(self) -> str:
        """The command-line flag of the option (flags are named after the last part)."""
        return "--" + self.path.rsplit(".", 1)[-1].replace("_", "-")

    def describe(self) -> str:
        """``model.hidden_size (--hidden-size): 256 in the run, 512 now``."""
        return f"{self.path} ({self.flag}): {self.saved!r} in the run, {self.new!r} now"


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path + ".")
        else:
            yield path, value


def _allowed(path: str, saved: Any, new: Any, may_change: Mapping[str, str]) -> bool:
    for pattern, rule in may_change.items():
        if fnmatch.fnmatchcase(path, pattern) and pattern.count(".") == path.count("."):
            return rule == "any" or (saved is None) == (new is None)
    return False


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: 2 == 2.0, but True != 1 and [1] == (1,)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def config_changes(
    saved: Mapping[str, Any],
    new: Mapping[str, Any],
    may_change: Mapping[str, str] | None = None,
) -> list[Change]:
    """The options that differ between two configs and may not change on resume.

    Both configs should be normalised the same way first (e.g. ``Config.from_dict(d).to_dict()``
    on each, so that fields added since the run was saved take their defaults in both).

    Args:
        saved: the config the run saved (the ``"config"`` part of its config.json).
        new: the config resolved now (config file and flags).
        may_change: options allowed to differ, as in :data:`RESUMABLE` (None: that list).

    Returns:
        The refused differences, in the order of ``new`` (then keys only in ``saved``).
    """
    rules = RESUMABLE if may_change is None else may_change
    old = dict(_leaves(saved))
    now = dict(_leaves(new))
    changes = []
    for path in [*now, *(p for p in old if p not in now)]:
        a, b = old.get(path, _MISSING), now.get(path, _MISSING)
        if a is not _MISSING and b is not _MISSING and _same(a, b):
            continue
        a = None if a is _MISSING else a
        b = None if b is _MISSING else b
        if not _allowed(path, a, b, rules):
            changes.append(Change(path, a, b))
    return changes


def check_resume_config(
    run: str,
    saved: Mapping[str, Any],
    new: Mapping[str, Any],
    may_change: Mapping[str, str] | None = None,
) -> None:
    """Refuse to resume ``run`` with options that cannot change (all of them named at once).

    Args:
        run: the run directory (for the message).
        saved, new, may_change: as in :func:`config_changes`.

    Raises:
        ConfigError: some options differ; nothing has been written.
    """
    changes = config_changes(saved, new, may_change)
    if not changes:
        return
    listed = "; ".join(c.describe() for c in changes)
    count = f"{len(changes)} option{'s' if len(changes) > 1 else ''}"
    raise ConfigError(
        f"{run}: resuming cannot change {count} of the run: {listed}",
        "give the values the run was started with (or leave them out), or start a new run "
        "(--overwrite, or another output directory); nothing was written",
    )
