"""Bad experiment files are refused before any task runs (DESIGN 3, Validation)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.conftest import MakeExperiment, TestExperiment, git

Mutate = Callable[[TestExperiment], None]
MISSING_SHA = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class Case:
    """One bad input: how to make it and what the refusal must name."""

    mutate: Mutate
    key: str
    fix: str
    file: str = "experiment.toml"


def append(text: str) -> Mutate:
    def mutate(exp: TestExperiment) -> None:
        exp.file.write_text(exp.file.read_text() + text)
    return mutate


def replace(old: str, new: str) -> Mutate:
    return lambda exp: exp.edit(old, new)


def write(relative: str, text: str) -> Mutate:
    def mutate(exp: TestExperiment) -> None:
        path = exp.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return mutate


def link_outside(exp: TestExperiment) -> None:
    target = exp.project / "secret.txt"
    target.write_text("not part of the overlay\n")
    (exp.directory / "tiers" / "T1" / "s01" / "secret").symlink_to(target)


def link_up(exp: TestExperiment) -> None:
    (exp.directory / "tiers" / "T1" / "s01" / "agent.py").symlink_to(
        "../../../agent.py")


def folder_link_outside(exp: TestExperiment) -> None:
    files = exp.directory / "tiers" / "T2" / "s09" / "files"
    files.mkdir(parents=True)
    (files / "escape").symlink_to(exp.project / "dodo.py")


def overlay_absolute(exp: TestExperiment) -> None:
    folder = exp.directory / "tiers" / "T1" / "s01"
    exp.edit('overlay = "tiers/T1/s01"', f'overlay = "{folder}"')


def repo_empty_folder(exp: TestExperiment) -> None:
    (exp.directory / "empty").mkdir()
    _set_repo(exp, "empty")


def repo_text_file(exp: TestExperiment) -> None:
    (exp.directory / "notes.txt").write_text("not a repository\n")
    _set_repo(exp, "notes.txt")


def _set_repo(exp: TestExperiment, repo: str) -> None:
    text = exp.file.read_text()
    start = text.index('repo = "')
    end = text.index("\n", start)
    exp.file.write_text(f'{text[:start]}repo = "{repo}"{text[end:]}')


S01 = "[tiers.T1.subtests.s01]"
S02_ENV = 'agent.env = { AGENT_MODE = "fail" }'
CASES = {
    "unknown-key": Case(replace("rerun_failed =", "rerun_faild = true\nx ="),
                        "[experiment].rerun_faild", "did you mean rerun_failed"),
    "unknown-key-in-subtest": Case(
        replace(S01, f'{S01}\ndescripton = "typo"'),
        "[tiers.T1.subtests.s01].descripton", "did you mean description"),
    "unknown-key-in-subtest-agent": Case(
        replace(S02_ENV, f"{S02_ENV}\nagent.timout = 5"),
        "[tiers.T1.subtests.s02.agent].timout", "did you mean timeout"),
    "unknown-key-in-folder-subtest": Case(
        write("tiers/T2/s09/subtest.toml", 'descripton = "typo"\n'),
        "descripton", "did you mean description", "tiers/T2/s09/subtest.toml"),
    "tier-id-dots": Case(append('\n[tiers."../x".subtests.s1]\n'), "../x",
                         "use letters, digits"),
    "tier-id-space": Case(append('\n[tiers."a b".subtests.s1]\n'), "a b",
                          "use letters, digits"),
    "subtest-id-dots": Case(append('\n[tiers.T0.subtests."../x"]\n'), "../x",
                            "use letters, digits"),
    "subtest-id-space": Case(append('\n[tiers.T0.subtests."a b"]\n'), "a b",
                             "use letters, digits"),
    "tier-folder-id-space": Case(
        write("tiers/a b/s09/subtest.toml", 'description = "x"\n'),
        "tier folder", "use letters, digits", "tiers/a b/s09/subtest.toml"),
    "subtest-folder-id-space": Case(
        write("tiers/T2/a b/subtest.toml", 'description = "x"\n'),
        "subtest folder", "use letters, digits", "tiers/T2/a b/subtest.toml"),
    "prompt-missing": Case(lambda exp: (exp.directory / "prompt.md").unlink(),
                           "[task].prompt", "create the prompt file"),
    "overlay-missing": Case(
        lambda exp: shutil.rmtree(exp.directory / "tiers" / "T1" / "s01"),
        "[tiers.T1.subtests.s01].overlay", "create the folder"),
    "overlay-symlink-absolute": Case(link_outside, "[tiers.T1.subtests.s01].overlay",
                                     "copy the file into the overlay"),
    "overlay-symlink-up": Case(link_up, "[tiers.T1.subtests.s01].overlay",
                               "copy the file into the overlay"),
    "folder-overlay-symlink": Case(
        folder_link_outside, "files/escape", "copy the file into the overlay",
        "tiers/T2/s09/files"),
    "overlay-dotdot": Case(
        replace('overlay = "tiers/T1/s01"', 'overlay = "tiers/../tiers/T1/s01"'),
        "[tiers.T1.subtests.s01].overlay", "without '..'"),
    "overlay-absolute": Case(overlay_absolute, "[tiers.T1.subtests.s01].overlay",
                             "use a relative path"),
    "repo-empty-folder": Case(repo_empty_folder, "[source].repo",
                              "point repo at a git repository"),
    "repo-text-file": Case(repo_text_file, "[source].repo",
                           "point repo at a git repository"),
    "commit-missing-branch": Case(
        replace('commit = "main"', 'commit = "no-such-branch"'),
        "[source].commit", "use a branch, tag or sha that exists"),
    "commit-missing-sha": Case(
        replace('commit = "main"', f'commit = "{MISSING_SHA}"'),
        "[source].commit", "use a branch, tag or sha that exists"),
    "runs-zero": Case(replace("runs = 1", "runs = 0"), "[experiment].runs",
                      "runs = 3"),
    "timeout-negative": Case(replace("timeout = 60", "timeout = -5"),
                             "[agent].timeout", "timeout = 600"),
    "placeholder-unknown": Case(replace("{prompt_file}", "{prompt}"),
                                "[agent].command", "use one of experiment_dir"),
    "subtest-inline-and-folder": Case(
        write("tiers/T1/s02/subtest.toml", 'description = "twice"\n'),
        "[tiers.T1.subtests.s02]", "keep one declaration"),
}


def assert_refused(exp: TestExperiment, *args: str) -> str:
    """Run doit; check it refused cleanly, before any workspace; return stderr."""
    done = exp.doit(*args)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert not (exp.project / "results").exists(), "a results folder was made"
    assert exp.calls() == []
    return done.stderr


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_run_refuses_bad_input(make_experiment: MakeExperiment, case: Case) -> None:
    exp = make_experiment(runs=1)
    case.mutate(exp)
    message = assert_refused(exp, "run")
    assert str(exp.directory / case.file) in message, message
    assert case.key in message, message
    assert case.fix in message, message


def test_list_refuses_malformed_toml_naming_its_line(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1)
    lines = exp.file.read_text().splitlines()
    number = lines.index("runs = 1") + 1
    exp.edit("runs = 1", "runs = = 1")
    message = assert_refused(exp, "list")
    assert str(exp.file) in message, message
    assert f"line {number}" in message, message
    assert "fix the syntax" in message, message


def test_list_refuses_unknown_key(make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1)
    exp.edit("[judge]", "[judge]\ncomand = []")
    message = assert_refused(exp, "list")
    assert "[judge].comand" in message and "did you mean command" in message


def test_list_refuses_missing_short_sha_leaving_source_alone(
        make_experiment: MakeExperiment) -> None:
    exp = make_experiment(runs=1)
    source = (exp.directory / "../../../source").resolve()
    before = git(source, "for-each-ref")
    exp.edit('commit = "main"', 'commit = "deadbeef"')
    message = assert_refused(exp, "list")
    assert "[source].commit" in message and "deadbeef" in message, message
    assert git(source, "for-each-ref") == before
