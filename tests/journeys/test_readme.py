"""Every `ablate …` and `make …` command README.md shows is run by some journey (a test that
carries the ``readme`` mark naming it) or by CI itself (.ci/run): a new promise without a
journey fails here."""

from __future__ import annotations

import re

from lab import REPO

# Run by .ci/run rather than by a journey (checked below: they must be in .ci/run).
BY_CI = {
    "make test": "the test suite itself",
    "make test-portable": "the numeric tests on other CPU kernels",
    "make lint": "ruff over ablate, tests and bench",
}
# Shown, but not run in CI, with the reason.
NOT_IN_CI = {
    "make bench": "about 35 minutes of benchmarks; docs/benchmarks.md holds their figures",
}


def readme_commands() -> set[str]:
    """``ablate X`` / ``make X`` in README's code spans and code blocks."""
    text = (REPO / "README.md").read_text()
    code = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    code += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    found = set()
    for block in code:
        for line in block.splitlines():
            for tool, sub in re.findall(r"(?:^|[\s;(])(ablate|make) ([a-z][a-z-]*)", line):
                found.add(f"{tool} {sub}")
    return found


def journey_commands() -> set[str]:
    covered = set()
    for path in (REPO / "tests" / "journeys").glob("test_*.py"):
        for args in re.findall(r"@pytest\.mark\.readme\(([^)]*)\)", path.read_text()):
            covered |= set(re.findall(r'"([^"]+)"', args))
    return covered


def test_every_command_the_readme_shows_is_run_by_a_journey_or_by_ci():
    shown = readme_commands()
    assert {"make sweep", "make test", "ablate sweep", "ablate confirm"} <= shown, shown
    missing = shown - journey_commands() - set(BY_CI) - set(NOT_IN_CI)
    assert not missing, f"README commands no journey runs: {sorted(missing)}"


def test_the_commands_left_to_ci_are_in_ci():
    ci = (REPO / ".ci" / "run").read_text()
    for command in BY_CI:
        assert re.search(rf"^\s*{re.escape(command)}\b", ci, flags=re.M), command


def test_the_journeys_claim_only_commands_that_exist():
    shown = readme_commands()
    assert journey_commands() <= shown | {"make gpu-check"}, journey_commands() - shown
