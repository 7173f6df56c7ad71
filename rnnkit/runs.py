"""Run directories as the tasks use them: starting one, opening and checking a saved one, loading
its weights, and the user code it needs (``--import``). Every task goes through this module.

A run directory's ``config.json`` is::

    {"task": NAME, "rnnkit_version": ..., "imports": [FILE_OR_MODULE, ...], "config": {...}}

``config`` is the task's resolved config, with every file and folder path absolute (so the
run works from any directory); ``imports`` lists the user code that registers the run's own
cells or models, imported again by every command that reopens the run. Files on disk (layout,
marker, lock, atomic writes, checksums, metrics) are :class:`rnnkit.train.RunDir`'s business,
and which directories a run may start in, resume or overwrite is
:mod:`rnnkit.train.runstart`'s: this module applies those rules for the tasks
(:func:`check_out`, :func:`check_resume`, :func:`start_run`), see docs/run-directories.md.
"""

from __future__ import annotations

import dataclasses
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
from rnnkit.errors import ConfigError, TaskError
from rnnkit.train import RunDir, RunStatus, check_resume_config
from rnnkit.train.distributed import current_env

if TYPE_CHECKING:
    from rnnkit.tasks.base import Task
    from rnnkit.tasks.predictor import Predictor


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

    A run directory may come from elsewhere, so code that comes with it is never run by itself:
    a recorded file inside the run directory is refused (pass it with ``--import`` to trust
    it). A recorded file that is gone is skipped when the run's cells and task are registered
    anyway (``--import`` from its new place); otherwise the error names it.
    """
    from rnnkit.tasks.registry import available_tasks

    def registered() -> bool:  # what the run names is there anyway (e.g. --import elsewhere)
        return cells_of(config) <= set(available_cells()) and task in available_tasks()

    recorded_in = run_dir / RunDir.CONFIG
    for spec in specs:
        if _is_file_spec(spec) and not registered():
            if _inside(Path(spec), run_dir):
                raise TaskError(
                    f"this run imports {spec}, a file inside the run directory (recorded in "
                    f"{recorded_in}); rnnkit never runs code that comes with a run directory",
                    f"pass --import {spec} if you trust it",
                )
            if not Path(spec).is_file():
                raise TaskError(
                    f"this run imports {spec} (recorded in {recorded_in}; it registers the "
                    "run's own cells), but the file is gone: pass --import FILE.py with its new "
                    "place"
                )
        elif _is_file_spec(spec):
            continue  # imported by the user already (--import), or not needed
        try:
            import_user_code(spec)
        except TaskError as err:
            if registered():
                continue
            raise TaskError(f"this run needs its user code: {err}") from None


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


# ---------------------------------------------------------------- starting a run


def check_out(out: str | os.PathLike, resume: bool = False, overwrite: bool = False) -> RunStatus:
    """Check, read-only and before any data is read, that ``out`` can take this run.

    The rules are :mod:`rnnkit.train.runstart`'s: ``out`` must be absent, empty or an rnnkit
    run; a run that reached a checkpoint needs ``resume`` or ``overwrite``; a run that never
    did starts again. Under torchrun only rank 0 checks (the others read what is there).

    Returns:
        The directory's status (``status.resume``: training continues its checkpoint).

    Raises:
        UsageError: ``resume`` and ``overwrite`` together.
        RunDirError: the directory cannot take the run (the message says why and what to do).
        RunLockedError: another process is training in it.
    """
    run = RunDir(out)
    if current_env().rank != 0:
        status = run.status()
        return dataclasses.replace(status, resume=resume and status.checkpoint is not None)
    return run.check_out(resume, overwrite)


def saved_options(
    out: str | os.PathLike, task: str, resume: bool, overwrite: bool = False
) -> dict[str, Any]:
    """The options a resumed run starts from: the config it saved (flags then override it).

    Empty when not resuming, and for a run that never saved its config (it starts again).

    Raises:
        The errors of :func:`check_out`; TaskError: the run is of another task.
    """
    if not resume:
        return {}
    check_out(out, resume=True, overwrite=overwrite)
    if not RunDir(out).config_path.is_file():
        return {}
    return dict(Run(out, task=task).saved_config)


def check_resume(out: str | os.PathLike, config: Config) -> None:
    """Refuse to resume ``out`` with options that cannot change (all named at once), before
    anything is written (see :mod:`rnnkit.train.config_changes`).

    Raises:
        ConfigError: some options differ from the run's.
    """
    run = Run(out)
    try:
        saved = type(config).from_dict(run.saved_config).to_dict()  # new fields: defaults
    except ValueError as err:
        raise ConfigError(f"{run.dir.config_path}: {err}", "start a new run") from None
    check_resume_config(str(out), saved, config.to_dict())


def start_run(
    task: str,
    config: Config,
    out: str | os.PathLike,
    resume: bool = False,
    overwrite: bool = False,
    imports: Sequence[str] = (),
) -> tuple[RunDir, RunStatus]:
    """Create (or take over) ``out``, lock it and save the resolved config.

    Call it once everything that can fail has been checked (options, data, model, device), so
    that a bad option or file leaves nothing behind. The lock is held until ``run.release()``
    or the end of the process.

    Args:
        task: the task name written into config.json.
        config: the resolved task config (paths already absolute).
        out: the run directory.
        resume: continue the run already in ``out``.
        overwrite: start over in ``out`` (only rnnkit's own files are removed).
        imports: user modules or files to record (see :func:`imports_for`).

    Returns:
        The RunDir (locked) and its status (``status.resume``: continue the checkpoint).
    """
    run = RunDir(out)
    if current_env().rank != 0:  # under torchrun only rank 0 writes the run directory
        return run, check_out(out, resume, overwrite)
    saved = {
        "task": task,
        "rnnkit_version": rnnkit.__version__,
        "imports": list(imports),
        "config": config.to_dict(),
    }
    return run, run.begin(saved, resume, overwrite)


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
        imports = saved.get("imports", [])
        checks = [
            (isinstance(saved["task"], str), "'task' must be a name"),
            (isinstance(saved["config"], dict), "'config' must be an object of options"),
            (
                isinstance(imports, list) and all(isinstance(i, str) for i in imports),
                "'imports' must be a list of module names or files",
            ),
        ]
        for ok, why in checks:
            if not ok:
                raise TaskError(f"{self.dir.config_path} is not an rnnkit run config: {why}")
        if task is not None and saved["task"] != task:
            raise TaskError(f"{path} is a {saved['task']!r} run, not {task!r}")
        self.task: str = saved["task"]
        self.rnnkit_version: str | None = saved.get("rnnkit_version")
        self.imports: list[str] = list(imports)
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

    def task_object(self) -> Task:
        """The registered task of the run (its recorded user code imported first)."""
        from rnnkit.tasks import available_tasks, get_task

        self.import_code()
        if self.task not in available_tasks():
            raise TaskError(
                f"{self.dir.config_path} names the task {self.task!r}, which is not registered "
                f"(tasks: {', '.join(available_tasks())})",
                "pass --import MODULE_OR_FILE with the code that registers it",
            )
        return get_task(self.task)

    @property
    def config(self) -> Any:
        """The run's task config (typed; fields added since the run was made take defaults)."""
        if self._config is None:
            task = self.task_object()
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
        return self.task_object().load(self, device)
