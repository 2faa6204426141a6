"""Ablation reports: collect (MLflow -> DataFrame), stats (pure), plots (seaborn), render."""
