"""Validation: the main output's metrics of the dataset's task, each image whole or by sliding
windows; per-term KPIs for the combiners that read them."""

from __future__ import annotations

import torch
from torch import Tensor

from ablate.tasks import TASKS, batch_kpi


def term_kpis(terms, outputs, y, targets, ignore_index) -> dict[str, Tensor]:
    kpis = {}
    for t in terms:
        kpi = batch_kpi(outputs[t.output], y[targets[t.name]], ignore_index)
        if kpi is not None:
            kpis[t.name] = kpi
    return kpis


@torch.no_grad()
def evaluate(model, data, main_loss, cfg, amp: bool, channels_last: bool, device):
    """Main-output metrics of the dataset's task on the validation split (aux heads are off):
    each image whole, or (``train.eval_crop``) by sliding windows averaged, as PSPNet tests."""
    model.eval()
    metrics = TASKS[data.task](data.num_classes, data.ignore_index)
    loss_sum, n = torch.zeros((), device=device), 0
    for x, y in data.val.batches(cfg.eval_batch_size, device=device):
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = sliding(model, x, cfg.eval_crop) if cfg.eval_crop else model(x)["out"]
        target = y[data.default_target]
        loss_sum += main_loss(out.float(), target).detach() * len(x)
        n += len(x)
        metrics.update(out, target)
    return {"loss": float(loss_sum) / n, **metrics.compute()}


def sliding(model, x: Tensor, crop: int, overlap: float = 1 / 3) -> Tensor:
    """Dense logits from ``crop`` x ``crop`` windows with ``overlap`` between neighbours (the
    image padded up to a window where smaller), averaged where windows meet."""
    import torch.nn.functional as F

    b, _, h, w = x.shape
    ph, pw = max(crop - h, 0), max(crop - w, 0)
    xp = F.pad(x, (0, pw, 0, ph))
    hh, ww = xp.shape[2:]
    stride = max(1, int(crop * (1 - overlap)))
    ys = list(range(0, max(hh - crop, 0) + 1, stride))
    xs = list(range(0, max(ww - crop, 0) + 1, stride))
    if ys[-1] + crop < hh:
        ys.append(hh - crop)
    if xs[-1] + crop < ww:
        xs.append(ww - crop)
    total = count = None
    for top in ys:
        for left in xs:
            out = model(xp[:, :, top : top + crop, left : left + crop])["out"].float()
            if total is None:
                total = out.new_zeros(b, out.shape[1], hh, ww)
                count = out.new_zeros(1, 1, hh, ww)
            total[:, :, top : top + crop, left : left + crop] += out
            count[:, :, top : top + crop, left : left + crop] += 1
    return (total / count)[:, :, :h, :w]
