"""From per-trial rows to numbers: aggregation into tables, confidence intervals and the three-way decision,
retention thresholds. What a grid can decide and the verdicts per training seed build on the claims, so
they live in `claims/` (`design`, `seed_table`)."""
