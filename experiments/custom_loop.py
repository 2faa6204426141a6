"""A training loop of one's own under ablate (``train.function: experiments.custom_loop:train``).

The model does not fit ablate's loop: a digit classifier whose hidden layer also feeds an
auxiliary head that must reconstruct the input (an autoencoder term), trained with two
optimisers, one per head. ablate still sweeps it (``train.params.recon_weight``), trains each
(configuration, seed) once, logs and checkpoints it, and reports it.
"""

from __future__ import annotations

import torch
from torch import nn

from ablate.registry import DATASETS, build


class Net(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.encode = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU())
        self.classify = nn.Linear(hidden, 10)
        self.decode = nn.Linear(hidden, 64)


def train(experiment, seed: int, reporter) -> None:
    p = experiment.train.params
    data = build(DATASETS.get(experiment.data.name), experiment.data.params)  # sklearn's digits
    torch.manual_seed(seed)
    net = Net(p.get("hidden", 32))
    main_opt = torch.optim.Adam([*net.encode.parameters(), *net.classify.parameters()], lr=1e-2)
    aux_opt = torch.optim.Adam(net.decode.parameters(), lr=1e-2)
    start = 0
    resumed = reporter.resume()  # after an interruption: continue where the checkpoint was
    if resumed is not None:
        epoch, state = resumed
        net.load_state_dict(state["net"])
        main_opt.load_state_dict(state["main"])
        aux_opt.load_state_dict(state["aux"])
        torch.set_rng_state(state["rng"])
        start = epoch + 1
    weight = float(p.get("recon_weight", 0.0))
    for epoch in range(start, experiment.train.epochs):
        net.train()
        losses = []
        for x, y in data.train.batches(64, shuffle=True, seed=seed, epoch=epoch):
            h = net.encode(x)
            ce = nn.functional.cross_entropy(net.classify(h), y["label"])
            recon = nn.functional.mse_loss(net.decode(h), x.flatten(1))
            main_opt.zero_grad()
            aux_opt.zero_grad()
            (ce + weight * recon).backward()
            main_opt.step()
            aux_opt.step()
            losses.append(ce.item())
        net.eval()
        with torch.no_grad():
            correct = sum(
                (net.classify(net.encode(x)).argmax(1) == y["label"]).sum().item()
                for x, y in data.val.batches(256)
            )
        reporter.metrics(
            {"train/ce": sum(losses) / len(losses), "val/accuracy": correct / len(data.val)},
            epoch,
        )
        state = {"net": net.state_dict(), "main": main_opt.state_dict(),
                 "aux": aux_opt.state_dict(), "rng": torch.get_rng_state()}  # fmt: skip
        reporter.save(epoch, state)
        if reporter.should_stop():
            break
