"""What a dodo.py needs: DOIT_CONFIG and the task generator of one experiment."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from doit.exceptions import InvalidDodoFile

from scylla_build.build import Build, open_build, remember
from scylla_build.errors import ScyllaError, debugging
from scylla_build.experiment import load_experiment
from scylla_build.heap import long_lived
from scylla_build.reporter import reporter_for
from scylla_build.tasks import default_tasks, generate_tasks

DEFAULT_EXPERIMENT = "hello-world"
TaskCreator = Callable[[], Iterator[dict[str, Any]]]


def setup_logging() -> None:
    """Send the package's INFO and above to stderr; doit owns stdout."""
    logger = logging.getLogger("scylla_build")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("scylla: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if debugging() else logging.INFO)


def experiment_dodo(file: Path | str) -> tuple[dict[str, Any], TaskCreator]:
    """Load an experiment; return DOIT_CONFIG and a `task_*` function for it.

    Errors in the experiment, its checkpoint or its results folder become
    doit's InvalidDodoFile, which doit prints as one message without a
    traceback (set SCYLLA_DEBUG=1 to see the traceback).
    """
    setup_logging()
    try:
        with long_lived():
            build = _open(file)
    except (ScyllaError, OSError) as err:
        if debugging():
            raise
        raise InvalidDodoFile(_message(err)) from None
    config = {
        "backend": "scylla-sqlite",
        "dep_file": str(build.layout.doit_db),
        "continue": True,
        "reporter": reporter_for(build),
        "default_tasks": default_tasks(build),
    }
    remember(build)

    def task_experiment() -> Iterator[dict[str, Any]]:
        # doit turns each dict into a Task as it is yielded: both live on.
        with long_lived():
            yield from generate_tasks(build)
    task_experiment.__doc__ = f"experiment {build.experiment.name}"
    return {k: v for k, v in config.items() if v is not None}, task_experiment


def _open(file: Path | str) -> Build:
    build = open_build(load_experiment(file))
    build.read_ledger()
    build.layout.state.mkdir(parents=True, exist_ok=True)
    return build


def _message(err: ScyllaError | OSError) -> str:
    if isinstance(err, ScyllaError):
        return str(err)
    where = f"{err.filename}: " if err.filename else ""
    return (f"{where}{err.strerror or err}; check that this path exists and that "
            "you may read and write it (set SCYLLA_DEBUG=1 for the traceback)")


def select_experiment(folder: Path | str, name: str | None) -> Path:
    """Return experiments/NAME/experiment.toml.

    NAME defaults to the only experiment there, else to hello-world.
    """
    folder = Path(folder)
    if name is None:
        found = sorted(p.parent.name for p in folder.glob("*/experiment.toml"))
        name = found[0] if len(found) == 1 else DEFAULT_EXPERIMENT
    file = folder / name / "experiment.toml"
    if not file.is_file():
        known = sorted(p.parent.name for p in folder.glob("*/experiment.toml"))
        error = ScyllaError(
            f"{file}: no such experiment; choose one with doit experiment=NAME, "
            f"NAME one of: {', '.join(known) or '(none)'}")
        if debugging():
            raise error
        raise InvalidDodoFile(str(error))
    return file
