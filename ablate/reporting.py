"""The trainer's one outward interface: what it measures goes to a :class:`Reporter`.

Pure Python (no torch, no MLflow), so that tracking and the study driver can implement it without
importing the trainer, and the trainer can run without either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class Reporter:
    """Receives measurements during training. The default does nothing."""

    def metrics(
        self, values: Mapping[str, float], step: int, timestamp_ms: int | None = None
    ) -> None:
        """Per-epoch values (``train/...``, ``val/...``, ``weight/...``) with step = epoch.
        ``timestamp_ms``: when they were first measured (a resumed run sends its last
        checkpointed epoch again, with the same time, so that a tracker can tell a copy)."""

    def series(
        self, name: str, values: Sequence[float], first_step: int, timestamp_ms: int | None = None
    ) -> None:
        """A per-optimisation-step series, delivered once per epoch."""

    def should_stop(self) -> bool:
        """True to end training early (e.g. a pruner's decision)."""
        return False
