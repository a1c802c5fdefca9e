"""The task registry, beside the model registry (``core.models``): what a task is, and
every task the command line, the experiment runner and the page can run.

A task is a module with one interface (names looked up lazily, so that listing the
tasks imports nothing heavy):

* ``Settings``: a dataclass of the task's own settings, the ones an experiment arm may
  vary besides the core's model and training settings (``core.settings.CORE_MODEL`` /
  ``CORE_TRAIN``);
* ``check_settings(**arm) -> (task settings, core settings)``: refuse (one line) a setting
  no run can use, before anything trains;
* ``train(out, *, <data>=..., seed, minutes, steps, resume, force, progress, log, **settings)
  -> summary`` (a dict with ``finished``), writing a checkpoint folder;
* ``evaluate(model, *, <data>=None, **options) -> dict`` (flat, JSON);
* ``report(runs, out, **options) -> Path`` (Markdown and plots);
* ``experiment_runs(data, steps, minutes) -> core.experiment.TaskRuns``.

A task with a command of its own (music: ``musicrnn train``; the polyphonic benchmark:
``musicrnn bench polymusic``; the voice model: ``musicrnn voice train``) names its roles in
``interface`` instead (e.g. ``"train": "musicrnn.tasks.music:train_music"``), and gets no
``musicrnn task NAME`` command.

A :class:`Task` names that module and the few things that differ between tasks: the
name of its data argument, its command-line options, extra actions (the quake model's
daily update). The built-in tasks are registered by ``musicrnn.tasks`` (the layer above
this one); the command line builds ``musicrnn task NAME ...`` and ``musicrnn experiment
--task NAME`` from the registry. A task defined elsewhere joins with :func:`register`, or
by naming its module in the environment variable ``MUSICRNN_TASKS`` (comma-separated),
imported by :func:`load_plugins` and expected to call :func:`register`. Standard library
only.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field

from .checkpoint import UNTAGGED  # noqa: F401  (the layer above names the task of untagged checkpoints)
from .errors import SettingsError


@dataclass(frozen=True)
class Option:
    """One command-line option of a task's action. ``kind``: "str", "int", "float", "path"
    or "flag" (store_true); ``invert``: a flag that stores False into ``dest`` (``--stateless``
    for ``stateful``)."""

    flag: str
    help: str
    kind: str = "str"
    default: object = None
    choices: tuple = ()
    dest: str | None = None
    required: bool = False
    metavar: str | None = None
    invert: bool = False

    @property
    def name(self) -> str:
        return self.dest or self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Action:
    """An action beyond train, eval and report: ``function`` ("module:name") is called
    with the options' values as keyword arguments and a ``log``, and returns a dict
    printed as JSON."""

    name: str
    function: str
    help: str
    options: tuple[Option, ...] = ()
    existing: tuple[str, ...] = ()  # options naming paths that must exist
    after_report: bool = False  # listed after `report` in the help (else before it)
    scalars_only: bool = False  # print only the result's numbers and strings (not its lists and dicts)


@dataclass(frozen=True)
class Task:
    name: str
    module: str  # the module holding the interface above
    about: str
    data_help: str  # what --data is for this task
    data_arg: str = "data"  # the name of train's and evaluate's data argument
    train_options: tuple[Option, ...] = ()  # the task's own train flags
    steps_help: str = "600 when no --minutes"
    eval_options: tuple[Option, ...] = ()
    report_options: tuple[Option, ...] = ()
    report_many: bool = True  # report(runs: list, out) or report(run, out)
    actions: tuple[Action, ...] = ()
    experiment: bool = True  # musicrnn experiment --task NAME
    extra: dict = field(default_factory=dict)
    command: str | None = None  # the task's own command, when it has one (then no `musicrnn task NAME`)
    interface: dict = field(default_factory=dict)  # role -> "module:name", where a role's name is not the module's

    def load(self):
        return importlib.import_module(self.module)

    def function(self, name: str):
        """The task's ``name`` role (``Settings``, ``train``, ``evaluate``, ...): from
        ``interface`` when it names one there, else the module's attribute of that name."""
        if name in self.interface:
            return resolve(self.interface[name])
        return getattr(self.load(), name)

    def roles(self) -> tuple[str, ...]:
        """The roles of the interface this task declares."""
        if self.command is None:
            return ("Settings", "check_settings", "train", "evaluate", "report", "experiment_runs")
        return tuple(self.interface)


def resolve(spec: str):
    """The object a "module:name" string names."""
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


TASKS: dict[str, Task] = {}
_PLUGINS_READ = False


def register(task: Task) -> Task:
    TASKS[task.name] = task
    return task


def load_plugins() -> dict[str, Task]:
    """Import the modules named in ``MUSICRNN_TASKS`` (once); returns the registry."""
    global _PLUGINS_READ
    if not _PLUGINS_READ:
        _PLUGINS_READ = True
        for name in filter(None, (s.strip() for s in os.environ.get("MUSICRNN_TASKS", "").split(","))):
            importlib.import_module(name)
    return TASKS


def task(name: str) -> Task:
    try:
        return load_plugins()[name]
    except KeyError:
        raise SettingsError(f"unknown task {name!r}: choose from {', '.join(TASKS)}") from None


def train(t: Task, out, values: dict, *, typed=(), resume: bool = False, force: bool = False, progress: bool = True,
          log=print) -> dict:
    """``musicrnn task NAME train``: the task's ``train`` with the option ``values`` (each
    option's value, its default where not given). On ``resume`` every option the user did
    not type (``typed`` names those typed) is the run's own: the task's
    ``resume_options(config) -> dict`` when it has one, else its recorded settings
    (config.json ``[task]["settings"]``), so ``--out RUN --resume`` needs no other flag."""
    mod = t.load()
    kwargs = dict(values)
    if resume:
        from .runs import saved

        meta = saved(out, t.name)
        record = mod.resume_options(meta) if hasattr(mod, "resume_options") else \
            (meta.get(t.name) or {}).get("settings") or {}
        kwargs.update({k: v for k, v in record.items() if k in values and k not in typed})
    if kwargs.get("data", 0) is None and t.data_arg == "data":  # a task's own default data stays its default
        del kwargs["data"]
    return mod.train(out, resume=resume, force=force, progress=progress, log=log, **kwargs)


__all__ = ["Action", "Option", "TASKS", "Task", "load_plugins", "register", "resolve", "task", "train"]
