"""Reading an experiment: defaults, inline and folder subtests, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from scylla_build.errors import ConfigError
from scylla_build.experiment import (
    DEFAULT_AGENT_TIMEOUT,
    DEFAULT_JUDGE_TIMEOUT,
    Experiment,
    load_experiment,
)
from scylla_build.layout import RunKey
from scylla_build.subtest import Subtest
from tests.conftest import git, make_source_repo

MINIMAL = '''
[experiment]
runs = 2

[source]
repo = "../source"

[task]
prompt = "prompt.md"

[agent]
command = ["agent", "{prompt_file}"]

[judge]
command = ["judge"]

[tiers.T0.subtests.s00]
'''

FULL = '''
[experiment]
name = "full"
runs = 1
results = "out/full"
rerun_failed = false

[source]
repo = "../source"
commit = "main"

[task]
prompt = "prompt.md"

[agent]
command = ["agent", "{prompt_file}"]
timeout = 60
env = { MODEL = "m1", KEEP = "k" }
inputs = ["agent.py"]

[judge]
command = ["judge"]
timeout = 30
env = { STRICT = "1" }
inputs = ["judge.py"]

[tiers.T0]
description = "prompt only"

[tiers.T0.subtests.s00]
description = "plain"

[tiers.T1.subtests.s01]
overlay = "hints"
agent.env = { MODEL = "m2", EXTRA = "x" }
agent.timeout = 5
agent.command = ["other-agent", "{workspace}"]
'''


def write(root: Path, text: str) -> Path:
    """Write an experiment folder beside a source repository; return its file."""
    if not (root / "source").exists():
        make_source_repo(root / "source")
    directory = root / "demo"
    directory.mkdir(exist_ok=True)
    for name in ("prompt.md", "agent.py", "judge.py"):
        (directory / name).write_text(f"{name}\n")
    (directory / "experiment.toml").write_text(text)
    return directory / "experiment.toml"


def subtests(experiment: Experiment) -> dict[str, Subtest]:
    return {sub.key: sub for sub in experiment.subtests}


def test_load_experiment_defaults_when_keys_absent(tmp_path: Path) -> None:
    file = write(tmp_path, MINIMAL)
    experiment = load_experiment(file, cwd=tmp_path / "elsewhere")
    assert experiment.name == "demo"
    assert experiment.results == tmp_path / "elsewhere" / "results" / "demo"
    assert experiment.rerun_failed is True
    assert experiment.agent.timeout == DEFAULT_AGENT_TIMEOUT
    assert experiment.judge.timeout == DEFAULT_JUDGE_TIMEOUT
    assert (experiment.agent.env, experiment.agent.inputs) == ((), ())
    assert experiment.source.commit == "HEAD"
    assert experiment.source.resolve() == git(tmp_path / "source", "rev-parse",
                                              "HEAD")
    sub = subtests(experiment)["T0:s00"]
    assert (sub.description, sub.overlay, sub.agent) == ("", None, experiment.agent)


def test_load_experiment_relative_file_uses_cwd(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, MINIMAL)
    monkeypatch.chdir(tmp_path)
    experiment = load_experiment("demo/experiment.toml")
    assert experiment.directory == tmp_path / "demo"
    assert experiment.results == tmp_path / "results" / "demo"
    assert experiment.prompt == tmp_path / "demo" / "prompt.md"


def test_load_experiment_reads_written_values(tmp_path: Path) -> None:
    (tmp_path / "demo" / "hints").mkdir(parents=True)
    experiment = load_experiment(write(tmp_path, FULL), cwd=tmp_path)
    assert experiment.name == "full"
    assert experiment.results == tmp_path / "demo" / "out" / "full"
    assert experiment.rerun_failed is False
    assert experiment.agent.timeout == 60.0
    assert experiment.agent.inputs == ("agent.py",)
    assert experiment.judge.env == (("STRICT", "1"),)


def test_subtest_override_merges_env_replaces_command(
        tmp_path: Path) -> None:
    (tmp_path / "demo" / "hints").mkdir(parents=True)
    experiment = load_experiment(write(tmp_path, FULL), cwd=tmp_path)
    found = subtests(experiment)
    agent = found["T1:s01"].agent
    assert dict(agent.env) == {"MODEL": "m2", "KEEP": "k", "EXTRA": "x"}
    assert agent.timeout == 5.0
    assert agent.argv == ("other-agent", "{workspace}")
    assert agent.inputs == experiment.agent.inputs
    assert found["T1:s01"].overlay == tmp_path / "demo" / "hints"
    assert found["T0:s00"].agent == experiment.agent


def test_subtests_inline_and_folder_merge(tmp_path: Path) -> None:
    file = write(tmp_path, MINIMAL)
    folder = file.parent / "tiers" / "T1" / "s02"
    (folder / "files").mkdir(parents=True)
    (folder / "files" / "STYLE.md").write_text("style\n")
    (folder / "subtest.toml").write_text(
        'description = "as a folder"\n[agent]\nenv = { MODEL = "m9" }\n')
    only_files = file.parent / "tiers" / "T1" / "s03" / "files"
    only_files.mkdir(parents=True)
    (file.parent / "tiers" / "T2" / "s04").mkdir(parents=True)
    (file.parent / "tiers" / "T2" / "s04" / "subtest.toml").write_text("")
    # A folder holding neither subtest.toml nor files/ declares nothing.
    (file.parent / "tiers" / "T9" / "notes").mkdir(parents=True)
    experiment = load_experiment(file, cwd=tmp_path)
    found = subtests(experiment)
    assert list(found) == ["T0:s00", "T1:s02", "T1:s03", "T2:s04"]
    assert found["T1:s02"].description == "as a folder"
    assert found["T1:s02"].overlay == folder / "files"
    assert dict(found["T1:s02"].agent.env) == {"MODEL": "m9"}
    assert found["T1:s03"].overlay == only_files
    assert found["T2:s04"].overlay is None


def test_folder_subtest_with_overlay_key(tmp_path: Path) -> None:
    file = write(tmp_path, MINIMAL)
    (file.parent / "shared").mkdir()
    folder = file.parent / "tiers" / "T1" / "s05"
    folder.mkdir(parents=True)
    (folder / "subtest.toml").write_text('overlay = "shared"\n')
    found = subtests(load_experiment(file, cwd=tmp_path))
    assert found["T1:s05"].overlay == file.parent / "shared"


def test_run_keys_sorted_by_tier_subtest_number(tmp_path: Path) -> None:
    text = MINIMAL + "\n[tiers.A.subtests.b]\n[tiers.A.subtests.a]\n"
    experiment = load_experiment(write(tmp_path, text), cwd=tmp_path)
    assert experiment.run_keys() == [
        RunKey("A", "a", 1), RunKey("A", "a", 2), RunKey("A", "b", 1),
        RunKey("A", "b", 2), RunKey("T0", "s00", 1), RunKey("T0", "s00", 2)]


def test_load_experiment_missing_section_named(tmp_path: Path) -> None:
    text = MINIMAL.replace('[judge]\ncommand = ["judge"]\n', "")
    with pytest.raises(ConfigError, match=r"\[judge\]: is required but missing"):
        load_experiment(write(tmp_path, text), cwd=tmp_path)


def test_load_experiment_without_subtests_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace("[tiers.T0.subtests.s00]\n", "")
    with pytest.raises(ConfigError, match=r"\[tiers\]: declares no subtest"):
        load_experiment(write(tmp_path, text), cwd=tmp_path)


def test_load_experiment_missing_input_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace('command = ["judge"]', 'command = ["judge"]\n'
                           'inputs = ["rubric.toml"]')
    with pytest.raises(ConfigError, match=r"\[judge\]\.inputs\[0\]: names "
                       "'rubric.toml'"):
        load_experiment(write(tmp_path, text), cwd=tmp_path)
