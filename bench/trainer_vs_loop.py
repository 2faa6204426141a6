"""ablate's trainer against the loop a user would write by hand, same model, data, optimiser.

Both train the default experiment's configuration (PSPNet, main + 0.4 * aux, AdamW with the poly
schedule, the same batches in the same order) for the same epochs, validating each epoch (mIoU
from a confusion matrix), alternately in one process; the ratio of their images per second.
ablate runs with checkpoints off and a do-nothing reporter, as the hand loop has neither.

    python bench/trainer_vs_loop.py [--repeats 3] [--set train.epochs=2 ...] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ablate import metrics as M
from ablate import spec as S
from ablate.train import build, fit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quick  # noqa: E402


def hand_loop(spec, seed: int, device: torch.device) -> float:
    """What a careful user writes: model, two cross-entropies, AdamW, poly LR, eval per epoch."""
    cfg = spec.train
    parts = build(spec, seed, device)  # the same data and initial weights
    data, model = parts.data, parts.model
    w = spec.combiner.params["weights"].get("aux", 0.4)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * data.train.steps(cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: (1 - it / steps) ** cfg.poly_power)
    amp = device.type == "cuda"
    if amp:
        model = model.to(memory_format=torch.channels_last)
    for epoch in range(cfg.epochs):
        model.train()
        for x, y in data.train.batches(cfg.batch_size, shuffle=True, seed=seed, epoch=epoch,
                                       device=device):  # fmt: skip
            if amp:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = model(x)
            loss = F.cross_entropy(out["out"].float(), y["mask"], ignore_index=255)
            loss = loss + w * F.cross_entropy(out["aux"].float(), y["mask"], ignore_index=255)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        conf = None
        with torch.no_grad():
            for x, y in data.val.batches(cfg.eval_batch_size, device=device):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    pred = model(x)["out"].argmax(1)
                c = M.confusion_matrix(pred, y["mask"], data.num_classes, 255)
                conf = c if conf is None else conf + c
        M.miou(conf)
    return len(data.train) * cfg.epochs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("experiment", nargs="?", default="experiments/pspnet_aux_weight.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    quick.add(ap)
    args = ap.parse_args()
    if args.quick:
        args.overrides = [*quick.RUN, *args.overrides]
        args.repeats = 1
    torch.set_num_threads(args.threads)
    # One run, no sweep: neither pruning nor racing (a pruner needs checkpoints, which the
    # hand-written loop does not write).
    spec = S.load(args.experiment, [*args.overrides, f"train.device={args.device}",
                                    "train.checkpoint=false", "search.pruner=none",
                                    "search.race=null"], check_search=False)  # fmt: skip
    device = torch.device(args.device)
    images = len(build(spec, 0, device).data.train) * spec.train.epochs

    def ablate_fit() -> int:
        fit(spec, 0, progress=False)
        return images

    hand_loop(spec, 0, device), ablate_fit()  # warm-up
    rates = {"ablate": [], "hand": []}
    for _ in range(args.repeats):
        for name, fn in (("hand", lambda: hand_loop(spec, 0, device)), ("ablate", ablate_fit)):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            n = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            rates[name].append(n / (time.perf_counter() - t))
    a, h = statistics.median(rates["ablate"]), statistics.median(rates["hand"])
    print(f"trainer / hand-written loop throughput: {a / h:.3f} ({a:.1f} vs {h:.1f} images/s on "
          f"{args.device}, medians of {args.repeats} alternating runs)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
