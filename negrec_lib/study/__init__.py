"""The study's analysis: baselines as scorers (more to move here: runs, statistics, verdicts)."""
