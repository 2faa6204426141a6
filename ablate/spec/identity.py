"""What identifies a configuration and a study: the settings that are compared, apart from
those that only say how a run is carried out (:data:`RUNTIME`)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

# How a run is carried out, not what is compared: these may differ between the sweeps of one
# study (more loader workers on a bigger machine, the weights kept this time) without changing
# a configuration's hash or the study's fingerprint, so finished runs are reused. Each run still
# logs them with the rest of its flattened experiment. (Mixed precision, channels-last and
# everything else that changes the numbers stay part of the configuration.)
RUNTIME = (
    "data.params.workers",  # loader processes: the batches are the same (tested)
    "train.threads",
    "train.device",  # "auto" already runs one study on CPUs and GPUs alike
    "train.eval_batch_size",  # evaluation is in eval mode: batching changes nothing
    "train.checkpoint",
    "train.keep",
)


def without_runtime(dumped: dict[str, Any]) -> dict[str, Any]:
    """A copy of a dumped spec without the :data:`RUNTIME` settings."""

    out = copy.deepcopy(dumped)
    for path in RUNTIME:
        *parents, last = path.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(tree, Mapping):
        if not tree and prefix:
            out[prefix] = "{}"
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(tree, list) and any(isinstance(v, (Mapping, list)) for v in tree):
        for i, v in enumerate(tree):
            out.update(flatten(v, f"{prefix}.{i}"))
    else:
        out[prefix] = json.dumps(tree) if isinstance(tree, list) else str(tree)
    return out


def fingerprint(spec) -> str:
    """What must not change between the sweeps of one study (seeds may be added; the runtime
    settings, :data:`RUNTIME`, may change)."""
    d = without_runtime(spec.model_dump(mode="json"))
    d["search"] = {k: v for k, v in d["search"].items() if k not in ("seeds", "confirm")}
    for p in d["search"]["params"].values():  # studies made before the field existed match
        if p.get("spaces") is True:
            del p["spaces"]
    keep = {
        k: d[k] for k in ("data", "model", "terms", "combiner", "train", "objective", "search")
    }
    return json.dumps(keep, sort_keys=True)


def fingerprint_id(spec) -> str:
    """The study's fingerprint in 12 hex digits."""
    return hashlib.sha256(fingerprint(spec).encode()).hexdigest()[:12]


def changes(before: dict, now: dict) -> str:
    """The dotted keys that differ between two fingerprints (or dumped specs), in words."""
    a, b = flatten(before), flatten(now)
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    shown = [f"{k}: {a.get(k, '(unset)')} -> {b.get(k, '(unset)')}" for k in keys[:3]]
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return "changed " + "; ".join(shown) + more if keys else "changed"
