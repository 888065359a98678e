"""Hyperparameter searches that prune trials on the forecast of their final loss: thin adapters
over the rule in core/pruning.py (the `optuna` and `ray` extras; each imports its engine at
module level and is itself imported only when used, so the core install needs neither).

  trial_attrs.py   what a trial carries for the pruner (planned end, schedule, the forecast a
                   pruned trial ended with) as Optuna user attributes, and the trial's curve back
  optuna_pruner.py ForecastPruner, an optuna.pruners.BasePruner
  optuna_trial.py  TrialReporter: reports a ScalingTracker's validations to an optuna.Trial
                   (a plain loop), and what to do when the trial is pruned
  optuna_lightning.py, optuna_hf.py: the same from a Lightning Trainer / a transformers Trainer
  ray_tune.py      ForecastScheduler, a Ray Tune TrialScheduler with the same rule, on the
                   forecast the tracker reports with each result (`tune_result`)
"""
