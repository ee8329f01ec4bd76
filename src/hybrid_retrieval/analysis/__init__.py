"""From per-trial rows to decisions: aggregation into tables, confidence intervals and the three-way
decision, retention thresholds, what a grid can decide, and the toys' verdicts per training seed."""
