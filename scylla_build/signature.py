"""Agent and judge signatures: what can change an outcome, hashed (DESIGN 5)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from scylla_build.command import CommandSpec
from scylla_build.overlay import fingerprint
from scylla_build.preset import PRESETS, PresetName

# Bump when the hashed parts change; records made under another scheme are
# reported by name rather than silently rebuilt.
SCHEME = 1

PART_WORDS = {
    "source": "source repository or commit changed",
    "prompt": "prompt changed",
    "overlay": "overlay files changed",
    "command": "agent command, env or timeout changed",
    "inputs": "agent inputs changed",
    "judge_command": "judge command, env or timeout changed",
    "judge_inputs": "judge inputs changed",
}


@dataclass(frozen=True)
class Signature:
    """A combined hash plus the hash of each named part, for explaining changes."""

    digest: str
    parts: dict[str, str]

    @classmethod
    def of(cls, parts: dict[str, str]) -> Signature:
        """Combine named part hashes into one signature with its scheme."""
        text = json.dumps(parts, sort_keys=True)
        return cls(f"v{SCHEME}:{_sha(text.encode())}", parts)

    def explain(self, recorded: str, recorded_parts: dict[str, str] | None) -> str:
        """Say in words how `recorded` differs from this signature."""
        if not recorded.startswith(f"v{SCHEME}:"):
            scheme = recorded.partition(":")[0] or "none"
            return f"signature scheme changed ({scheme} to v{SCHEME})"
        if recorded_parts is None:
            return "signature changed"
        changed = [PART_WORDS.get(name, f"{name} changed")
                   for name, value in sorted(self.parts.items())
                   if recorded_parts.get(name) != value]
        return ", ".join(changed) or "signature changed"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileHashes:
    """Hash each file once per process, keyed by absolute path."""

    def __init__(self) -> None:
        self._seen: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        if path not in self._seen:
            self._seen[path] = _sha(path.read_bytes())
        return self._seen[path]

    def inputs(self, directory: Path, names: tuple[str, ...]) -> str:
        """Hash input files by name as written and content."""
        pairs = sorted((name, self(directory / name)) for name in names)
        return _sha(json.dumps(pairs).encode())


def command_part(spec: CommandSpec) -> str:
    """Hash a command as written (before placeholders), its env and timeout.

    A preset adds its name and version, `model`, `args` and `binary` as
    written; a bare command hashes exactly as before presets existed. The
    rate-limit rule is left out: it decides when to retry, not what an
    attempt that counts did.
    """
    parts: list[object] = [list(spec.argv), spec.env, spec.timeout]
    if spec.preset is not None:
        version = PRESETS[PresetName(spec.preset)].version
        parts.append({"preset": spec.preset, "version": version,
                      "model": spec.model, "args": list(spec.args),
                      "binary": spec.binary})
    return _sha(json.dumps(parts).encode())


def agent_signature(*, source: str, prompt: str, overlay: Path | None,
                    agent: CommandSpec, inputs: str) -> Signature:
    """Build a subtest's agent signature from its already-hashed parts."""
    return Signature.of({
        "source": _sha(source.encode()),
        "prompt": prompt,
        "overlay": fingerprint(overlay),
        "command": command_part(agent),
        "inputs": inputs,
    })


def judge_signature(judge: CommandSpec, inputs: str) -> Signature:
    """Build the experiment's judge signature."""
    return Signature.of({"judge_command": command_part(judge),
                         "judge_inputs": inputs})
