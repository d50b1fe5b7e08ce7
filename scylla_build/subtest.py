"""Subtests, declared inline in experiment.toml or as folders under tiers/."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scylla_build.command import CommandSpec, read_override
from scylla_build.errors import ConfigError
from scylla_build.overlay import check_overlay_path
from scylla_build.schema import Table
from scylla_build.toml import read_toml

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
SUBTEST_FILE = "subtest.toml"
FOLDER_OVERLAY = "files"


@dataclass(frozen=True)
class Subtest:
    """One configuration inside a tier, its overrides already applied."""

    tier: str
    name: str
    description: str
    overlay: Path | None
    agent: CommandSpec

    @property
    def key(self) -> str:
        return f"{self.tier}:{self.name}"


def toml_key(name: str) -> str:
    """Write a key as TOML would: bare when it can be, else quoted."""
    return name if BARE_KEY.fullmatch(name) else json.dumps(name)


def check_id(file: Path, key: str, value: str, kind: str) -> None:
    """Refuse a tier or subtest id outside the allowed characters."""
    if not ID_PATTERN.fullmatch(value):
        raise ConfigError(file, key, f"{kind} id {value!r} is not allowed",
                          "use letters, digits, '.', '_' and '-', starting with "
                          "a letter or digit, e.g. T1 or s01")


def read_inline(tier: str, name: str, table: Table, base: CommandSpec,
                experiment_dir: Path) -> Subtest:
    """Read `[tiers.T.subtests.S]` from experiment.toml."""
    return _read_subtest(tier, name, table, base, experiment_dir, None)


def _read_subtest(tier: str, name: str, table: Table, base: CommandSpec,
                  experiment_dir: Path, default_overlay: Path | None) -> Subtest:
    description = table.string("description", "", example='"what it tests"')
    written = table.string("overlay", None, example='"tiers/T1/s01"')
    overlay = default_overlay
    if written is not None:
        overlay = check_overlay_path(table, "overlay", experiment_dir, written)
    agent = read_override(table.table("agent"), base)
    table.finish()
    return Subtest(tier, name, description, overlay, agent)


def folder_declarations(experiment_dir: Path) -> dict[tuple[str, str], Path]:
    """Find `tiers/<tier>/<subtest>/` folders holding subtest.toml or files/."""
    found: dict[tuple[str, str], Path] = {}
    tiers = experiment_dir / "tiers"
    if not tiers.is_dir():
        return found
    for tier_dir in sorted(p for p in tiers.iterdir() if p.is_dir()):
        for folder in sorted(p for p in tier_dir.iterdir() if p.is_dir()):
            if (folder / SUBTEST_FILE).is_file() or (folder / FOLDER_OVERLAY).is_dir():
                found[(tier_dir.name, folder.name)] = folder
    return found


def read_folder(tier: str, name: str, folder: Path, base: CommandSpec,
                experiment_dir: Path) -> Subtest:
    """Read a subtest declared as a folder."""
    file = folder / SUBTEST_FILE
    named = file if file.exists() else folder
    check_id(named, "tier folder", tier, "tier")
    check_id(named, "subtest folder", name, "subtest")
    data: dict[str, Any] = read_toml(file) if file.is_file() else {}
    overlay_dir = folder / FOLDER_OVERLAY
    default_overlay = None
    if overlay_dir.is_dir():
        # Problems in files/ are named by that folder, not by subtest.toml.
        written = str(overlay_dir.relative_to(experiment_dir))
        holder = Table(overlay_dir, "", {})
        default_overlay = check_overlay_path(holder, "", experiment_dir, written)
    table = Table(file, "", data)
    return _read_subtest(tier, name, table, base, experiment_dir, default_overlay)
