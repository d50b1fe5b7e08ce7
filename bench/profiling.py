"""Where a doit command spends its time: cProfile of one whole process."""

from __future__ import annotations

import pstats
import sysconfig
import tempfile
from pathlib import Path

from measurement import DOIT, PYTHON, progress, run_once

TOP = 15
# Paths are shown from these folders down: site-packages first (so doit's
# files read doit/...), then the repository, then the standard library.
_PREFIXES = (sysconfig.get_paths()["purelib"] + "/",
             str(Path(__file__).resolve().parents[1]) + "/",
             sysconfig.get_paths()["stdlib"] + "/")
FunctionKey = tuple[str, int, str]
# pstats' table: function -> (primitive calls, calls, own, cumulative, callers)
Table = dict[FunctionKey, tuple[int, int, float, float, object]]


def profile_run(project: Path, output: Path) -> float:
    """Run `doit run` in `project` under cProfile; return its wall seconds."""
    argv = [PYTHON, "-m", "cProfile", "-o", str(output), DOIT, "run"]
    return run_once(argv, cwd=project, timeout=1800).seconds


def profile_noop(project: Path, floor: Path, *, top: int = TOP) -> None:
    """Profile no-op runs of the tool and its floor; print the top functions."""
    with tempfile.TemporaryDirectory(prefix="scylla-bench-profile-") as name:
        folder = Path(name)
        progress(f"profiling no-op doit runs in {project} and {floor}")
        seconds = profile_run(project, folder / "tool.prof")
        floor_seconds = profile_run(floor, folder / "floor.prof")
        print_profile(folder / "tool.prof", "no-op doit run", seconds, top=top)
        print(f"profile: the floor's no-op run under cProfile took "
              f"{floor_seconds:.2f} s")
        print_extra(_table(folder / "tool.prof"), _table(folder / "floor.prof"),
                    top=top)


def print_profile(output: Path, title: str, seconds: float, *,
                  top: int = TOP) -> None:
    """Print the top functions of a saved profile by cumulative and own time."""
    table = _table(output)
    print(f"profile: {title} under cProfile took {seconds:.2f} s "
          "(profiling slows it)")
    for key in ("cumulative", "own"):
        print(f"profile: top {top} functions by {key} time")
        print(f"profile: {'cumtime':>8} {'tottime':>8} {'calls':>9}  function")
        rows = sorted(table.items(), reverse=True, key=lambda item: (
            item[1][3] if key == "cumulative" else item[1][2]))
        for function, (_, calls, own, total, _) in rows[:top]:
            print(f"profile: {total:8.3f} {own:8.3f} {calls:9,}  "
                  f"{describe(function)}")
    print(flush=True)


def print_extra(tool: Table, floor: Table, *, top: int = TOP) -> None:
    """Print the functions whose time grew most over the floor's."""
    absent = (0, 0, 0.0, 0.0, None)
    for key in ("cumulative", "own"):
        def seconds(table: Table, function: FunctionKey, key: str = key) -> float:
            row = table.get(function, absent)
            return row[3] if key == "cumulative" else row[2]
        extra = {function: seconds(tool, function) - seconds(floor, function)
                 for function in tool}
        print(f"profile: top {top} functions by {key} time over the floor's")
        print(f"profile: {'extra':>8} {'tool':>8} {'floor':>8}  function")
        for function, more in sorted(extra.items(), key=lambda item: item[1],
                                     reverse=True)[:top]:
            print(f"profile: {more:8.3f} {seconds(tool, function):8.3f} "
                  f"{seconds(floor, function):8.3f}  {describe(function)}")
    print(flush=True)


def describe(function: FunctionKey) -> str:
    """Write a function as short-path:line(name)."""
    file, line, name = function
    for prefix in _PREFIXES:
        if file.startswith(prefix):
            file = file.removeprefix(prefix)
            break
    return f"{file}:{line}({name})"


def _table(output: Path) -> Table:
    # pstats keeps its table in an attribute typeshed does not declare.
    table: Table = pstats.Stats(str(output)).stats  # type: ignore[attr-defined]
    return table
