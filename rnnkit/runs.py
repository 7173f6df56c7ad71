"""Run directories as the tasks use them: starting one, opening and checking a saved one, loading
its weights, and the user code it needs (``--import``). Every task goes through this module.

A run directory's ``config.json`` is::

    {"task": NAME, "rnnkit_version": ..., "imports": [FILE_OR_MODULE, ...], "config": {...}}

``config`` is the task's resolved config, with every file and folder path absolute (so the
run works from any directory); ``imports`` lists the user code that registers the run's own
cells or models, imported again by every command that reopens the run. Files on disk (layout,
atomic writes, metrics) are :class:`rnnkit.train.RunDir`'s business.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from torch import nn

import rnnkit
from rnnkit.cells import available_cells, cell_class
from rnnkit.config import Config
from rnnkit.train import RunDir
from rnnkit.train.distributed import current_env

if TYPE_CHECKING:
    from rnnkit.tasks.predictor import Predictor


class TaskError(ValueError):
    """A problem with the user's run directory, options or input, worded for the user."""


# ---------------------------------------------------------------- user code


def import_user_code(spec: str | os.PathLike) -> ModuleType:
    """Import a user's module by name (``my_pkg.cells``) or a Python file (``my_cells.py``).

    A file is imported once per process, whatever the name it was first imported under, so
    the cells it registers are not registered twice; its folder joins ``sys.path`` so that it
    can import its neighbours.

    Raises:
        TaskError: the module or file does not exist (named in the message).
    """
    text = os.fspath(spec)
    if not _is_file_spec(text):
        try:
            return importlib.import_module(text)
        except ModuleNotFoundError as err:
            raise TaskError(
                f"--import {text}: no module named {err.name!r} (give a module importable from "
                "here, or the path of a .py file)"
            ) from None
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        raise TaskError(f"--import {text}: no such file")
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and _same_file(file, path):
            return module
    name = path.stem if path.stem.isidentifier() and path.stem not in sys.modules else None
    name = name or f"rnnkit_user_{abs(hash(str(path)))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise TaskError(f"--import {text}: not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _is_file_spec(text: str) -> bool:
    return text.endswith(".py") or os.sep in text or "/" in text


def _same_file(file: str, path: Path) -> bool:
    try:
        return Path(file).resolve() == path
    except OSError:
        return False


def cells_of(config: Any) -> set[str]:
    """Every cell name a (nested) config names in a ``cell`` field."""
    data = config.to_dict() if isinstance(config, Config) else config
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "cell" and isinstance(value, str):
                found.add(value)
            else:
                found |= cells_of(value)
    return found


def imports_for(config: Config, explicit: Sequence[str] = ()) -> list[str]:
    """What a run must import again: the ``--import`` files (made absolute) and modules, plus
    the module of every user cell the config names (unless it is the running script)."""
    specs = [os.path.abspath(s) if _is_file_spec(s) else s for s in map(os.fspath, explicit)]
    for name in sorted(cells_of(config)):
        module = sys.modules.get(cell_class(name).__module__)
        if module is None or module.__name__.split(".")[0] == "rnnkit":
            continue
        file = getattr(module, "__file__", None)
        if module.__name__ == "__main__" or file is None:
            print(
                f"note: cell {name!r} is defined in the running script; commands that reopen "
                "this run need it in a module: pass --import FILE.py to them",
                file=sys.stderr,
            )
            continue
        parent = module.__spec__.parent if module.__spec__ else ""
        spec = module.__name__ if parent else os.path.abspath(file)
        if not any(_same_spec(spec, s) for s in specs):
            specs.append(spec)
    return specs


def _same_spec(a: str, b: str) -> bool:
    if _is_file_spec(a) and _is_file_spec(b):
        return Path(a).resolve() == Path(b).resolve()
    return a == b


def reimport(specs: Iterable[str], run_dir: Path, config: dict[str, Any], task: str) -> None:
    """Import a run's recorded user code again before its model is rebuilt.

    A recorded file that is gone is looked for beside the run directory's own files; if it is
    nowhere and the run's cells are registered anyway (``--import`` from its new place), it is
    skipped; otherwise the error names it.
    """
    from rnnkit.tasks.registry import available_tasks

    def registered() -> bool:  # what the run names is there anyway (e.g. --import elsewhere)
        return cells_of(config) <= set(available_cells()) and task in available_tasks()

    for spec in specs:
        if _is_file_spec(spec) and not Path(spec).is_file():
            moved = run_dir / Path(spec).name
            if moved.is_file():
                spec = str(moved)
            elif registered():
                continue
            else:
                raise TaskError(
                    f"this run imports {spec} (recorded in {run_dir / RunDir.CONFIG}; it "
                    f"registers the run's own cells), but the file is gone: pass --import "
                    "FILE.py with its new place"
                )
        try:
            import_user_code(spec)
        except TaskError as err:
            if registered():
                continue
            raise TaskError(f"this run needs its user code: {err}") from None


# ---------------------------------------------------------------- starting a run


def check_out(out: str | Path, resume: bool) -> None:
    """Refuse early (before any data is read) an ``--out`` that cannot take this run."""
    if current_env().rank != 0:
        return
    run = RunDir(out)
    exists = run.config_path.exists()
    if resume and not exists:
        raise TaskError(f"--resume: {out} holds no run to resume (no config.json)")
    if resume and not run.checkpoint_path("last").exists():
        raise TaskError(
            f"--resume: {out} has no checkpoint yet; start the run again without --resume"
        )
    if not resume and exists:
        raise TaskError(
            f"{out} already holds a run; pass --resume to continue it, or choose another --out"
        )
    if not resume and Path(out).is_file():
        raise TaskError(f"--out {out} is a file; give a directory for the run")


def start_run(
    task: str,
    config: Config,
    out: str | Path,
    resume: bool = False,
    imports: Sequence[str] = (),
) -> RunDir:
    """Create ``out`` and save the resolved config (or check it, when resuming).

    Call it once the data has been read and the model built, so that a bad option or file
    leaves no half-made run directory behind.

    Args:
        task: the task name written into config.json.
        config: the resolved task config (paths already absolute).
        out: the run directory.
        resume: continue the run already in ``out``.
        imports: user modules or files to record (see :func:`imports_for`).

    Returns:
        The RunDir.
    """
    check_out(out, resume)
    run = RunDir(out)
    if current_env().rank != 0:  # under torchrun only rank 0 writes the run directory
        return run
    run.create()
    saved = {
        "task": task,
        "rnnkit_version": rnnkit.__version__,
        "imports": list(imports),
        "config": config.to_dict(),
    }
    run.save_config(saved)
    return run


# ---------------------------------------------------------------- opening a run


class Run:
    """A run directory, opened and checked: its task, config, metrics and files.

    Args:
        path: the run directory.
        task: the task the run must be of (None: any).

    Raises:
        TaskError: not a run directory, an unreadable config.json, or a run of another task.
    """

    def __init__(self, path: str | os.PathLike, task: str | None = None) -> None:
        self.dir = RunDir(path)
        if not self.dir.config_path.exists():
            raise TaskError(
                f"{path} is not a run directory (no config.json); train one with `rnnkit train`"
            )
        try:
            saved = self.dir.load_config()
        except ValueError as err:
            raise TaskError(str(err)) from None
        if not isinstance(saved, dict) or "task" not in saved or "config" not in saved:
            raise TaskError(
                f"{self.dir.config_path} is not an rnnkit run config (needs 'task' and 'config')"
            )
        if task is not None and saved["task"] != task:
            raise TaskError(f"{path} is a {saved['task']!r} run, not {task!r}")
        self.task: str = saved["task"]
        self.rnnkit_version: str | None = saved.get("rnnkit_version")
        self.imports: list[str] = list(saved.get("imports", []))
        self.saved_config: dict[str, Any] = saved["config"]
        self.history: list[dict[str, Any]] | None = None
        """The epochs of the training call that returned this Run (None when opened)."""
        self._config: Config | None = None
        self._imported = False

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, task={self.task!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def path(self) -> Path:
        """The run directory."""
        return self.dir.path

    def import_code(self) -> None:
        """Import the run's recorded user code (once): the modules that register its cells."""
        if not self._imported:
            reimport(self.imports, self.path, self.saved_config, self.task)
            self._imported = True

    @property
    def config(self) -> Any:
        """The run's task config (typed; fields added since the run was made take defaults)."""
        if self._config is None:
            from rnnkit.tasks import get_task

            self.import_code()
            task = get_task(self.task)
            try:
                self._config = task.config_class.from_dict(self.saved_config)
            except ValueError as err:
                raise TaskError(f"{self.dir.config_path}: {err}") from None
        return self._config

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """Every record of ``metrics.jsonl``: one per epoch, then one per evaluation."""
        return self.dir.read_metrics()

    @property
    def paths(self) -> dict[str, Path]:
        """The run's files by role: config, model, metrics, checkpoints, vocabularies."""
        found = {
            "config": self.dir.config_path,
            "model": self.dir.model_path,
            "metrics": self.dir.metrics_path,
            "checkpoints": self.path / RunDir.CHECKPOINTS,
        }
        for vocab in sorted(self.path.glob("vocab*.json")):
            found[vocab.stem] = vocab
        return {role: path for role, path in found.items() if path.exists()}

    def check_trained(self) -> None:
        """Raise a clear error unless the run has finished training (has its weights)."""
        if not self.dir.model_path.is_file():
            raise TaskError(
                f"{self.path} has no trained weights yet ({RunDir.MODEL}): its training has not "
                "finished; resume it with `rnnkit train TASK --out RUN --resume`"
            )

    def load_weights(self, model: nn.Module) -> nn.Module:
        """Load ``model.safetensors`` into ``model`` (names and shapes checked)."""
        self.check_trained()
        return self.dir.load_model(model)

    def load(self, device: str | None = None) -> Predictor:
        """A :class:`~rnnkit.tasks.Predictor` of the trained model (see :func:`rnnkit.load`)."""
        from rnnkit.tasks import get_task

        self.import_code()
        return get_task(self.task).load(self, device)
