"""What `make reproduce` prints at its end: where the run's outputs are, and its claims table.

    hybrid-retrieval summary --config config/config.yaml

The run's folder follows the config (the checkout itself, or runs/<run>/ for a config naming its run),
found from the repository as `hybrid_retrieval.artifact.reference` finds it. The table shows the columns claim_id,
model and status of results/claims.csv, with the measured value and the paper's when the file has them.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

from hybrid_retrieval.artifact.reference import VERDICT_COLUMNS, repository_root, results_dir_of
from hybrid_retrieval.errors import ConfigError, DataError

# Shown when present, in this order (older claims.csv files say `measured`, newer ones `estimate`).
OPTIONAL_COLUMNS = ("estimate", "measured", "paper_value")


def claims_table(claims_csv: str | os.PathLike[str]) -> str:
    """The claims as an aligned text table (one row per claim x model)."""
    path = Path(claims_csv)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        missing = [c for c in VERDICT_COLUMNS if c not in fields]
        if missing:
            raise DataError(f"{path} has no column(s) {missing}: it is not a claims file of this workflow")
        rows = list(reader)
    columns = [*VERDICT_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in fields)]
    cells = [columns, *([row[c] or "" for c in columns] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(config: str | os.PathLike[str], root: str | os.PathLike[str]) -> str:
    results = results_dir_of(config, root)
    run = results.parent
    claims = results / "claims.csv"
    if not claims.is_file():
        raise DataError(f"{claims} does not exist: the run of {config} has not finished (make reproduce)")
    pdf = run / "paper" / "build" / "main.pdf"
    paper = f"  Paper: {pdf}" if pdf.is_file() else f"  Paper sources: {run / 'paper' / 'generated'}"
    return (
        f"Report: {results / 'report' / 'index.html'}  Claims: {claims}{paper}\n\n"
        f"Claims ({claims}):\n{claims_table(claims)}"
    )


def main(argv: list[str] | None = None, prog: str = "hybrid-retrieval summary") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", help="the run's config (default: the checkout's config/config.yaml)")
    args = parser.parse_args(argv)
    try:
        root = repository_root()
        print(summary(args.config or root / "config" / "config.yaml", root))
    except (ConfigError, DataError, OSError) as err:
        print(f"run summary: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
