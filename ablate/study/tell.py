"""Telling a resolved configuration: its Optuna trial gets the mean over its seeds (PRUNED when
a pruner stopped it, FAIL when a seed failed), its MLflow run the aggregate and its status --
once, by whichever driver resolves it first."""

from __future__ import annotations

from ablate import spec as S
from ablate.stats.seeds import summarize
from ablate.study import adapter as A
from ablate.study.cells import Config, State


def tell(config: Config, spec: S.Experiment, study, tickets, journal) -> None:
    seeds = sorted(config.cells)
    trial = config.trial
    if trial is None:
        return  # a confirmation: not part of the search, nothing to tell
    if config.ticket[1].startswith("#"):
        tickets.set(*config.ticket, "done", {"trial": trial.number, "seeds": seeds})
    elif not tickets.finish(*config.ticket, {"trial": trial.number, "seeds": seeds}):
        return  # another driver told it
    if A.trial_state(study, trial.number) != "RUNNING":  # failed as interrupted
        attrs = {"config_hash": config.hash, A.REOPENS: trial.number}
        steps = A.intermediate(study, trial.number)
        trial = A.fixed_trial(study, spec, config.values, attrs, steps)
    failed, pruned = config.in_state(State.FAILED), config.in_state(State.PRUNED)
    A.set_attr(trial, "seeds", seeds)
    if pruned and not failed:
        at = pruned[0].result["at"]
        journal.set_tags(config.run_key, {"ablate.pruned_at": str(at)})
        mean = summarize([c.result["value"] for c in pruned]).mean
        journal.log_metrics(config.run_key, {f"{spec.objective.metric}_at_rung": mean}, at - 1)
        journal.set_status(config.run_key, "KILLED", pruned[0].result["reason"], "pruned")
        A.tell(study, trial, None, pruned=True)
        return
    if failed:
        why = "; ".join(f"seed {c.seed}: {c.result.get('reason')}" for c in failed)
        journal.set_status(config.run_key, "FAILED", why, failed[0].result.get("kind"))
        A.tell(study, trial, None)
        return
    done = config.in_state(State.DONE)
    s = summarize([c.result["objective"] for c in done])
    agg = s.as_metrics(spec.objective.metric)
    fits = [c.result["fit_s"] for c in done if c.result.get("fit_s") is not None]
    if fits:
        agg["time/fit_s_mean"] = summarize(fits).mean
    journal.log_metrics(config.run_key, agg)
    journal.clear_failure(config.run_key)  # an earlier sweep's interruption is over
    journal.set_status(config.run_key, "FINISHED")
    A.tell(study, trial, s.mean)
