"""Study names: a study's name also names its report folder."""

from __future__ import annotations

import re

from ablate.errors import AblateError


def check_study_name(name: str) -> None:
    """A study name names a report folder: no path separators, no leading dot."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", name) or ".." in name:
        raise AblateError(
            f"study name {name!r}: use letters, digits, '_', '.', '-' (it names the report "
            "folder, so it cannot hold a path)"
        )
