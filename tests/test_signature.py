"""Agent and judge signatures: what changes them and what must not (DESIGN 5)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scylla_build.build import Build, open_build
from scylla_build.experiment import load_experiment
from scylla_build.signature import SCHEME, Signature
from tests.conftest import git, make_source_repo

EXPERIMENT = '''
# a comment that must not matter
[experiment]
runs = 2

[source]
repo = "../source"
commit = "main"

[task]
prompt = "prompt.md"

[agent]
command = ["python3", "{experiment_dir}/agent.py", "{prompt_file}"]
timeout = 60
env = { MODEL = "m1", TEMPERATURE = "0" }
inputs = ["agent.py"]

[judge]
command = ["python3", "{experiment_dir}/judge.py"]
inputs = ["judge.py"]

[tiers.T0.subtests.s00]
description = "plain"

[tiers.T1.subtests.s01]
overlay = "tiers/T1/s01"
agent.env = { MODEL = "m2" }
'''

# The same experiment: keys and tables reordered, inline tables spelt out,
# other comments, descriptions and run count.
REORDERED = '''
[tiers.T1.subtests.s01.agent.env]
MODEL = "m2"

[tiers.T1.subtests.s01]
description = "a new description"
overlay = "tiers/T1/s01"

[tiers.T0.subtests.s00]

[judge]
inputs = ["judge.py"]
command = ["python3", "{experiment_dir}/judge.py"]

[agent]
inputs = ["agent.py"]
timeout = 60.0
command = ["python3", "{experiment_dir}/agent.py", "{prompt_file}"]

[agent.env]
TEMPERATURE = "0"   # another comment
MODEL = "m1"

[task]
prompt = "prompt.md"

[source]
commit = "main"
repo = "../source"

[experiment]
runs = 7
'''


def write_experiment(root: Path, text: str = EXPERIMENT) -> Path:
    """Write an experiment under root/experiment beside a source repository."""
    make_source_repo(root / "source")
    directory = root / "experiment"
    overlay = directory / "tiers" / "T1" / "s01"
    overlay.mkdir(parents=True)
    (overlay / "HINT.md").write_text("be right\n")
    (directory / "agent.py").write_text("print('agent')\n")
    (directory / "judge.py").write_text("print('judge')\n")
    (directory / "prompt.md").write_text("Write answer.txt.\n")
    (directory / "experiment.toml").write_text(text)
    return directory / "experiment.toml"


def build(file: Path) -> Build:
    return open_build(load_experiment(file, cwd=file.parent))


def agent_digests(built: Build) -> dict[str, str]:
    return {key: sig.digest for key, sig in built.agent_signatures.items()}


@pytest.fixture
def file(tmp_path: Path) -> Path:
    return write_experiment(tmp_path / "first")


def test_signature_carries_scheme(file: Path) -> None:
    built = build(file)
    assert built.judge_signature.digest.startswith(f"v{SCHEME}:")
    assert all(digest.startswith(f"v{SCHEME}:")
               for digest in agent_digests(built).values())


def test_signature_independent_of_absolute_paths(file: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "deeper"
    shutil.copytree(file.parents[1], moved, symlinks=True)
    first, second = build(file), build(moved / "experiment" / "experiment.toml")
    assert first.experiment.results != second.experiment.results
    assert agent_digests(first) == agent_digests(second)
    assert first.judge_signature == second.judge_signature


def test_signature_independent_of_key_order_comments_and_runs(
        file: Path, tmp_path: Path) -> None:
    other = write_experiment(tmp_path / "second", REORDERED)
    first, second = build(file), build(other)
    assert second.experiment.runs != first.experiment.runs
    assert agent_digests(first) == agent_digests(second)
    assert first.judge_signature == second.judge_signature


def test_subtests_differ_by_overlay_and_env(file: Path) -> None:
    digests = agent_digests(build(file))
    assert digests["T0:s00"] != digests["T1:s01"]


def test_overlay_content_changes_only_its_subtest(file: Path) -> None:
    before = build(file)
    (file.parent / "tiers" / "T1" / "s01" / "HINT.md").write_text("be wrong\n")
    after = build(file)
    assert agent_digests(after)["T0:s00"] == agent_digests(before)["T0:s00"]
    changed = after.agent_signatures["T1:s01"]
    old = before.agent_signatures["T1:s01"]
    assert changed.digest != old.digest
    assert changed.explain(old.digest, old.parts) == "overlay files changed"
    assert after.judge_signature == before.judge_signature


def test_overlay_mode_changes_signature(file: Path) -> None:
    before = build(file).agent_signatures["T1:s01"]
    (file.parent / "tiers" / "T1" / "s01" / "HINT.md").chmod(0o755)
    after = build(file).agent_signatures["T1:s01"]
    assert after.digest != before.digest
    assert after.explain(before.digest, before.parts) == "overlay files changed"


@pytest.mark.parametrize(("old", "new", "words"), [
    ('MODEL = "m1"', 'MODEL = "m3"', "agent command, env or timeout changed"),
    ("timeout = 60", "timeout = 61", "agent command, env or timeout changed"),
    ('"{prompt_file}"]', '"--", "{prompt_file}"]',
     "agent command, env or timeout changed"),
])
def test_agent_edit_names_the_changed_part(file: Path, old: str, new: str,
                                           words: str) -> None:
    before = build(file)
    file.write_text(file.read_text().replace(old, new))
    after = build(file)
    recorded = before.agent_signatures["T0:s00"]
    current = after.agent_signatures["T0:s00"]
    assert current.explain(recorded.digest, recorded.parts) == words
    assert after.judge_signature == before.judge_signature


def test_env_override_shields_subtest_from_base_env(file: Path) -> None:
    before = agent_digests(build(file))
    file.write_text(file.read_text().replace('MODEL = "m1"', 'MODEL = "m3"'))
    after = agent_digests(build(file))
    assert after["T0:s00"] != before["T0:s00"]
    assert after["T1:s01"] == before["T1:s01"]


@pytest.mark.parametrize(("name", "words"), [
    ("prompt.md", "prompt changed"),
    ("agent.py", "agent inputs changed"),
])
def test_file_edit_names_the_changed_part(file: Path, name: str, words: str) -> None:
    before = build(file).agent_signatures["T0:s00"]
    (file.parent / name).write_text("changed\n")
    after = build(file).agent_signatures["T0:s00"]
    assert after.explain(before.digest, before.parts) == words


def test_source_commit_change_names_source(file: Path) -> None:
    before = build(file).agent_signatures["T0:s00"]
    source = file.parents[1] / "source"
    (source / "new.txt").write_text("new\n")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "second")
    after = build(file).agent_signatures["T0:s00"]
    assert after.explain(before.digest, before.parts) == (
        "source repository or commit changed")


def test_judge_edit_changes_only_the_judge_signature(file: Path) -> None:
    before = build(file)
    (file.parent / "judge.py").write_text("print('stricter')\n")
    after = build(file)
    assert agent_digests(after) == agent_digests(before)
    old = before.judge_signature
    assert after.judge_signature.explain(old.digest, old.parts) == (
        "judge inputs changed")


def test_explain_without_parts_or_with_other_scheme() -> None:
    current = Signature.of({"prompt": "a"})
    assert current.explain("v1:abc", None) == "signature changed"
    assert current.explain("v0:abc", {"prompt": "a"}) == (
        f"signature scheme changed (v0 to v{SCHEME})")
    assert current.explain("", None) == f"signature scheme changed (none to v{SCHEME})"


def test_explain_lists_every_changed_part() -> None:
    old = Signature.of({"prompt": "a", "overlay": "b", "inputs": "c"})
    new = Signature.of({"prompt": "x", "overlay": "y", "inputs": "c"})
    assert new.explain(old.digest, old.parts) == (
        "overlay files changed, prompt changed")
