"""Command specs: presets, their keys and overrides, limits, and their signatures."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from scylla_build.build import open_build
from scylla_build.command import CommandSpec
from scylla_build.errors import ConfigError
from scylla_build.experiment import Experiment, load_experiment
from scylla_build.ratelimit import RateLimitRule
from scylla_build.signature import command_part
from tests.test_experiment import write

PRESET = '''
[experiment]
runs = 1
{experiment}

[source]
repo = "../source"

[task]
prompt = "prompt.md"

[agent]
{agent}

[judge]
command = ["judge"]
{judge}

[tiers.T0.subtests.s00]
{subtest}
'''


def load(tmp_path: Path, *, agent: str = 'preset = "claude-code"',
         experiment: str = "", judge: str = "", subtest: str = "") -> Experiment:
    text = PRESET.format(agent=agent, experiment=experiment, judge=judge,
                         subtest=subtest)
    return load_experiment(write(tmp_path, text), cwd=tmp_path)


def refused(tmp_path: Path, **parts: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **parts)
    return caught.value


def test_preset_reads_model_args_and_binary(tmp_path: Path) -> None:
    experiment = load(tmp_path, agent='preset = "codex"\nmodel = "gpt-5-codex"\n'
                      'args = ["--full-auto"]\nbinary = "{experiment_dir}/codex"')
    agent = experiment.agent
    assert (agent.preset, agent.model, agent.args, agent.argv) == (
        "codex", "gpt-5-codex", ("--full-auto",), ())
    values = {"prompt_file": str(experiment.prompt),
              "experiment_dir": "/exp"}
    assert agent.fill(values) == ["/exp/codex", "exec", "--json", "--model",
                                  "gpt-5-codex", "--full-auto", "prompt.md\n"]


@pytest.mark.parametrize(("agent", "key", "fix"), [
    ('preset = "claude-code"\ncommand = ["x"]', "[agent].preset", "keep one"),
    ('preset = "aider"', "[agent].preset", "claude-code, codex, gemini"),
    ('command = ["x"]\nmodel = "m"', "[agent].model", "add preset"),
    ('args = ["--x"]\ncommand = ["x"]', "[agent].args", "add preset"),
    ("timeout = 5", "[agent].command", 'or preset = "claude-code"'),
    ('preset = "gemini"\nargs = "--yolo"', "[agent].args", "set e.g. args"),
    ('preset = "gemini"\nbinary = "{home}/gemini"', "[agent].binary",
     "use one of"),
])
def test_agent_preset_keys_refused(tmp_path: Path, agent: str, key: str,
                                   fix: str) -> None:
    error = refused(tmp_path, agent=agent)
    assert error.key == key
    assert fix in error.fix


def test_judge_takes_no_preset(tmp_path: Path) -> None:
    error = refused(tmp_path, judge='preset = "claude-code"')
    assert (error.key, error.problem) == ("[judge].preset", "is not a known key")


def test_subtest_command_turns_preset_into_bare_command(tmp_path: Path) -> None:
    experiment = load(tmp_path, agent='preset = "claude-code"\nmodel = "m"',
                      subtest='agent.command = ["mine"]')
    agent = experiment.subtests[0].agent
    assert (agent.argv, agent.preset, agent.model) == (("mine",), None, None)


def test_subtest_other_preset_starts_without_model(tmp_path: Path) -> None:
    experiment = load(tmp_path, agent='preset = "claude-code"\nmodel = "m"\n'
                      'args = ["-a"]', subtest='agent.preset = "gemini"')
    agent = experiment.subtests[0].agent
    assert (agent.preset, agent.model, agent.args) == ("gemini", None, ())


def test_subtest_overrides_model_of_same_preset(tmp_path: Path) -> None:
    experiment = load(tmp_path, agent='preset = "claude-code"\nargs = ["-a"]',
                      subtest='agent.model = "opus"')
    agent = experiment.subtests[0].agent
    assert (agent.preset, agent.model, agent.args) == ("claude-code", "opus",
                                                       ("-a",))


def test_subtest_model_on_bare_command_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, agent='command = ["x"]', subtest='agent.model = "m"')
    assert error.key == "[tiers.T0.subtests.s00.agent].model"
    assert "agent.preset" in error.fix


def test_rate_limit_rule_read_and_checked(tmp_path: Path) -> None:
    experiment = load(tmp_path, agent='command = ["x"]\n[agent.rate_limit]\n'
                      'exit_codes = [75]\nerror_pattern = "429|quota"\n'
                      'reset_field = "retry_at"\nbackoff = 30',
                      judge="[judge.rate_limit]")
    assert experiment.agent.rate_limit == RateLimitRule((75,), "429|quota",
                                                        "retry_at", 30.0)
    assert experiment.judge.rate_limit == RateLimitRule()
    error = refused(tmp_path, agent='command = ["x"]\n[agent.rate_limit]\n'
                    'error_pattern = "(("')
    assert error.key == "[agent.rate_limit].error_pattern"
    error = refused(tmp_path, agent='command = ["x"]\n[agent.rate_limit]\n'
                    'exit_codes = ["75"]')
    assert error.key == "[agent.rate_limit].exit_codes"


def test_limits_read_with_defaults(tmp_path: Path) -> None:
    limits = load(tmp_path).limits
    assert (limits.budget_usd, limits.max_concurrent_agents, limits.max_wait) == (
        None, None, 3600.0)
    limits = load(tmp_path, experiment="budget_usd = 1\nmax_concurrent_agents = 2\n"
                  "max_wait = 60").limits
    assert (limits.budget_usd, limits.max_concurrent_agents, limits.max_wait) == (
        1.0, 2, 60.0)


@pytest.mark.parametrize(("line", "key"), [
    ("budget_usd = -1", "[experiment].budget_usd"),
    ('budget_usd = "10"', "[experiment].budget_usd"),
    ("max_concurrent_agents = 0", "[experiment].max_concurrent_agents"),
    ("max_wait = 0", "[experiment].max_wait"),
    ("max_concurent_agents = 2", "[experiment].max_concurent_agents"),
])
def test_limits_refused(tmp_path: Path, line: str, key: str) -> None:
    assert refused(tmp_path, experiment=line).key == key


@pytest.mark.parametrize(("prompt", "problem"), [
    ("x" * 200_000, "longer than"), ("- fix the bug\n", "starts with '-'")])
def test_preset_refuses_prompt_it_cannot_pass(tmp_path: Path, prompt: str,
                                              problem: str) -> None:
    file = write(tmp_path, PRESET.format(agent='preset = "gemini"', experiment="",
                                         judge="", subtest=""))
    (tmp_path / "demo" / "prompt.md").write_text(prompt)
    with pytest.raises(ConfigError) as caught:
        load_experiment(file, cwd=tmp_path)
    assert caught.value.key == "[task].prompt"
    assert problem in caught.value.problem


BARE = CommandSpec(("agent", "{prompt_file}"), 600.0, (("MODEL", "m1"),), ())


def test_bare_command_signature_unchanged_by_presets() -> None:
    before = hashlib.sha256(json.dumps(
        [list(BARE.argv), BARE.env, BARE.timeout]).encode()).hexdigest()
    assert command_part(BARE) == before
    assert command_part(replace(BARE, rate_limit=RateLimitRule((75,)))) == before


def test_preset_signature_hashes_preset_model_args_and_binary() -> None:
    base = replace(BARE, argv=(), preset="claude-code")
    digests = {command_part(spec) for spec in (
        base, replace(base, preset="codex"), replace(base, model="opus"),
        replace(base, args=("--max-turns", "3")), replace(base, binary="/b/claude"))}
    assert len(digests) == 5


def test_limits_are_in_no_signature(tmp_path: Path) -> None:
    plain = open_build(load(tmp_path))
    limited = open_build(load(tmp_path, experiment="budget_usd = 2\nmax_wait = 9\n"
                              "max_concurrent_agents = 1"))
    assert plain.agent_signatures == limited.agent_signatures
    assert plain.judge_signature == limited.judge_signature
