"""ARTIFACT.md's Falcon-H1 toy verdicts are the ones its run wrote (docs/families/toy-falcon-h1.claims.csv)."""

import csv
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLAIMS = REPO / "docs" / "families" / "toy-falcon-h1.claims.csv"


def _pct(value: str) -> str:
    return f"{100 * float(value):.1f}%"


def expected_rows(claims_csv: Path) -> list[str]:
    rows = []
    for r in csv.DictReader(claims_csv.open(newline="")):
        estimate = f"{_pct(r['estimate'])} [{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]" if r["estimate"] else ""
        rows.append(f"| {r['claim_id']} | {r['status']} | {estimate} | {r['n']} |")
    return rows


def artifact_rows() -> list[str]:
    text = (REPO / "ARTIFACT.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- falcon-h1-toy:.*?-->\n(.*?)<!-- /falcon-h1-toy -->", text, re.S)
    assert block, "ARTIFACT.md lost its falcon-h1-toy block"
    return [line for line in block.group(1).splitlines() if re.match(r"\| \d", line)]


def test_artifact_falcon_h1_table_equals_its_claims_csv(tmp_path):
    assert artifact_rows() == expected_rows(CLAIMS)
    assert {row.split(" | ")[1] for row in artifact_rows()} <= {"PASS", "FAIL", "INCONCLUSIVE", "NOT RUN"}
    # the comparison catches a changed verdict
    rows = list(csv.DictReader(CLAIMS.open(newline="")))
    rows[0]["status"] = "FAIL" if rows[0]["status"] == "PASS" else "PASS"
    changed = tmp_path / "claims.csv"
    with changed.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert artifact_rows() != expected_rows(changed)
