"""scylla-build: Make-style incremental builds of AI-agent experiments on doit."""

from __future__ import annotations

from scylla_build.dodo import experiment_dodo, select_experiment

__all__ = ["experiment_dodo", "select_experiment"]
