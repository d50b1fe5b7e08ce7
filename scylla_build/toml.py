"""Reading TOML files, with parse errors turned into config errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from scylla_build.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib


def read_toml(file: Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error names the file and its line."""
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(file, "", f"is not valid TOML: {err}",
                          "fix the syntax at that line") from err
    except OSError as err:
        raise ConfigError(file, "", f"cannot be read ({err.strerror})",
                          "check that the file exists and is readable") from err
