"""Does a cheaper study keep the answer? Two reports' claims (claims.json) compared (pure).

``full`` is the report of the full grid (every configuration, every seed, every epoch); ``other``
the report of a study that spent less (pruned, raced, fewer levels or seeds) on the same
question. ``other`` *keeps the answer* when it contradicts none of ``full``'s claims and makes
the same headline claims:

- **contradictions** (``other`` says the opposite of ``full``): a configuration better (worse)
  than the reference that the full grid calls worse (better); a dose-response that helps where
  the full grid's hurts, or the other way round; a helps/hurts whose optimum or gain interval
  does not overlap the full grid's.
- **differences** (not the same headline): a configuration in one side's possibly-best set and
  out of the other's, for every configuration both report on (tested in both: a smaller
  family has more power per comparison, so "worse" can appear on either side); another
  dose-response verdict (helps, hurts, an effect, none detected), or none at all.
- **notes** (listed, not counted against keeping the answer): a configuration better or worse
  than the reference on one side and not told apart from it on the other.

Configurations only one side reports on (pruned, raced out, not in a smaller grid) are not
compared. ``python -m ablate.report.agree FULL OTHER`` prints the comparison of two claims.json
files and exits 0 when ``other`` keeps the answer, 1 when it does not.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Agreement:
    contradictions: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def keeps(self) -> bool:
        return not self.contradictions and not self.differences


def compare(full: list[dict[str, Any]], other: list[dict[str, Any]]) -> Agreement:
    """How ``other``'s claims stand against ``full``'s (both as in claims.json)."""
    out = Agreement()
    _best_sets(_one(full, "best_set"), _one(other, "best_set"), out)
    ft, ot = (_set_and_tested(_one(c, "best_set")) for c in (full, other))
    _reference(_one(full, "reference"), _one(other, "reference"), ft and ft[1], ot and ot[1], out)
    _dose(_one(full, "dose"), _one(other, "dose"), out)
    return out


def verdict(claim: dict[str, Any] | None) -> str | None:
    """A dose claim's verdict: helps | hurts | effect | none (None: no dose claim)."""
    if claim is None:
        return None
    said = (claim.get("statistic") or {}).get("verdict")
    if said:
        return said
    text = claim["text"]  # claims.json written before the verdict was stored
    if text.startswith("No effect"):
        return "none"
    return "helps" if " helps**" in text else "hurts" if " hurts**" in text else "effect"


def _best_sets(f: dict | None, o: dict | None, out: Agreement) -> None:
    fs, os_ = _set_and_tested(f), _set_and_tested(o)
    if fs is None or os_ is None:
        return
    (fset, ftested), (oset, otested) = fs, os_
    for label in sorted(ftested & otested):
        if label in fset and label not in oset:
            out.differences.append(f"{label} is worse than another here, possibly best in the "
                                   "full grid")  # fmt: skip
        elif label not in fset and label in oset:
            out.differences.append(f"{label} is possibly best here, worse than another in the "
                                   "full grid")  # fmt: skip


def _set_and_tested(c: dict | None) -> tuple[set[str], set[str]] | None:
    stat = (c or {}).get("statistic") or {}
    if "set" not in stat or "means" not in stat:
        return None  # fewer than two tested configurations, or no spread: no comparison
    return set(stat["set"]), set(stat["means"])


def _reference(f, o, ftested: set[str] | None, otested: set[str] | None, out: Agreement) -> None:
    """Better or worse than the reference, configuration by configuration (those tested on
    both sides, when the best-set claims say which)."""
    if f is None or o is None:
        return
    fs, os_ = f.get("statistic") or {}, o.get("statistic") or {}
    if "better" not in fs or "better" not in os_ or fs.get("reference") != os_.get("reference"):
        return
    for word, opposite in (("better", "worse"), ("worse", "better")):
        for label in os_[word]:
            if label in fs[opposite]:
                out.contradictions.append(f"{label} is {word} than the reference; the full "
                                          f"grid says {opposite}")  # fmt: skip
            elif label not in fs[word] and (not ftested or label in ftested):
                out.notes.append(f"{label} is {word} than the reference; the full grid "
                                 "cannot tell it apart")  # fmt: skip
        for label in fs[word]:
            if (
                label not in os_[word]
                and label not in os_[opposite]
                and (otested is None or label in otested)
            ):
                out.notes.append(f"{label} cannot be told apart from the reference; "
                                 f"the full grid says {word}")  # fmt: skip


def _dose(f: dict | None, o: dict | None, out: Agreement) -> None:
    fv, ov = verdict(f), verdict(o)
    if fv is None:
        return
    if ov is None:
        out.differences.append(f"no dose-response claim; the full grid's: {fv}")
        return
    if ov != fv:
        where = out.contradictions if {ov, fv} == {"helps", "hurts"} else out.differences
        where.append(f"dose-response: {ov}; the full grid's: {fv}")
        return
    if fv in ("helps", "hurts"):
        for name, a, b in (
            ("optimum", f["statistic"].get("optimum_ci"), o["statistic"].get("optimum_ci")),
            ("gain", f.get("interval"), o.get("interval")),
        ):
            if a and b and (a[1] < b[0] or b[1] < a[0]):
                out.contradictions.append(
                    f"the {name}'s interval [{b[0]:.3g}, {b[1]:.3g}] misses the full grid's "
                    f"[{a[0]:.3g}, {a[1]:.3g}]"
                )


def _one(claims: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((c for c in claims if c.get("kind") == kind), None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ablate.report.agree",
        description="Does a cheaper study keep the full grid's answer? Compares two reports' "
        "claims.json (exit 0: it keeps the answer; 1: it does not).",
    )
    ap.add_argument("full", type=Path, help="claims.json of the full grid's report")
    ap.add_argument("other", type=Path, help="claims.json of the cheaper study's report")
    a = ap.parse_args(argv)
    try:
        full, other = (json.loads(p.read_text()) for p in (a.full, a.other))
    except (OSError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    r = compare(full, other)
    for line in r.contradictions:
        print(f"contradicts: {line}")
    for line in r.differences:
        print(f"differs: {line}")
    for line in r.notes:
        print(f"note: {line}")
    print("keeps the full grid's answer" if r.keeps else "does not keep the full grid's answer")
    return 0 if r.keeps else 1


if __name__ == "__main__":
    sys.exit(main())
