"""The workflow passes Snakemake's linter and is snakefmt-formatted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, snakemake

pytestmark = pytest.mark.workflow


def test_snakemake_lint_is_clean() -> None:
    proc = snakemake(REPO, "--lint", check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out


def test_snakefmt_check() -> None:
    snakefmt = Path(sys.executable).parent / "snakefmt"
    files = ["Snakefile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "workflow/rules").glob("*.smk"))]
    proc = subprocess.run(
        [str(snakefmt), "--check", *files], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_rule_logs_benchmarks_and_tracks_its_code() -> None:
    """log: and benchmark: under logs/{rule}/, and a `code=` digest param (edits in src/ rerun the rule)."""
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        blocks = re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]
        for block in blocks:
            name = block.split(":", 1)[0]
            assert re.search(rf'log:\s*\n\s*"logs/{name}/', block), (
                f"rule {name}: log must be under logs/{name}/"
            )
            assert re.search(rf'benchmark:\s*\n\s*"logs/{name}/[^"]+\.benchmark\.tsv"', block), (
                f"rule {name}: benchmark"
            )
            # retrieval_params() (common.smk) carries "code": CODE["retrieval"] for the retrieval rules
            assert 'code=CODE["' in block or "**retrieval_params(" in block, f"rule {name}: no code= digest param"
