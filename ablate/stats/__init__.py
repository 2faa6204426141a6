"""Statistics below both the driver and the report (pure: numpy, pandas, scipy, statsmodels;
neither torch nor optuna).

- :mod:`.seeds`: summaries over seeds and the seed-blocked two-way model's pieces
- :mod:`.analysis`: the per-configuration table, the possibly-best set, the reference
- :mod:`.dose`: the dose-response of a numeric factor; two factors
- :mod:`.racing`: which configurations of a racing stage go on
- :mod:`.budget`: the headline's error budget shared between racing and the report
"""
