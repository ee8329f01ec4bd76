"""ARTIFACT.md's generated claim tables equal their generators: what each grid can decide
(hybrid_retrieval.claims.design) and the verdicts per toy x seed (hybrid_retrieval.claims.seed_table)."""

from pathlib import Path

import pytest

from hybrid_retrieval.claims import seed_table
from hybrid_retrieval.claims.design import design_markdown
from hybrid_retrieval.config import load_config_file

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = (ROOT / "ARTIFACT.md").read_text(encoding="utf-8")


def _block(name: str) -> str:
    return ARTIFACT.split(f"<!-- design:{name}:start -->\n", 1)[1].split(f"\n<!-- design:{name}:end -->", 1)[0]


@pytest.mark.parametrize("name,config", [("paper", "paper.yaml"), ("toy", "config.yaml")])
def test_design_tables_equal_the_command(name, config):
    assert _block(name) == design_markdown(load_config_file(ROOT / "config" / config))


def test_design_table_follows_the_grid():
    cfg = load_config_file(ROOT / "config" / "config.yaml")
    smaller = cfg.model_copy(update={"retrieval": cfg.retrieval.model_copy(update={"trials_per_cell": 1})})
    assert "INCONCLUSIVE" in design_markdown(smaller).splitlines()[2]  # claim 1 at 24 trials


def test_seed_table_equals_the_stored_runs():
    assert seed_table.sync(check=True), "run: hybrid-retrieval seed-table"


def test_seed_table_marks_seed_dependent_verdicts(tmp_path):
    header = "claim_id,model,status,estimate,ci_low,ci_high,n\n"
    seed0 = tmp_path / "seed0.csv"
    seed0.write_text(header + "1,toy-a,PASS,0.0,0.0,0.03,100\n3,toy-a,FAIL,0.5,0.4,0.6,100\n")
    more = tmp_path / "more.csv"
    more.write_text(header + "1,toy-a-s1,PASS,0.0,0.0,0.03,100\n3,toy-a-s1,PASS,0.99,0.95,1.0,100\n")
    table = seed_table.seed_table(more, seed0)
    assert "| 1 | `toy-a` | PASS 0% [0, 3] n=100 | PASS 0% [0, 3] n=100 | PASS |" in table
    assert table.splitlines()[-1].endswith("| seed-dependent |")
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "1,toy-a,PASS,0.0,0.0,0.03,100\n")
    with pytest.raises(Exception, match="<toy>-s<seed>"):
        seed_table.seed_table(bad, None)
