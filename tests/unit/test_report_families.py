"""The report grouped by architecture family (issue 24): a run of three families (RecurrentGemma, Jamba,
LFM2) gets a family column in the claims table, each claim's rows ordered by family, a per-family verdict
table, and figure panels labelled and ordered "family · model"; a run of the paper's two families keeps its
layout apart from the family column and labels; a run of one family is unchanged."""

import json
import re
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402

from hybrid_retrieval.analysis.aggregate import aggregate  # noqa: E402
from hybrid_retrieval.claims import evaluate_claims, read_claims  # noqa: E402
from hybrid_retrieval.report.families import model_families, model_label  # noqa: E402
from hybrid_retrieval.report.figures import build_figures, chart_spec  # noqa: E402
from hybrid_retrieval.report.render import render_report  # noqa: E402
from hybrid_retrieval.report.tables import claims_view, family_summary_view  # noqa: E402

# model -> heads; the hub model's name sorts between the toys', so grouping by family reorders it
MODELS = {"toy-recurrent-gemma": 10, "toy-jamba": 8, "lfm2-stand-in": 16}
CONFIG = {
    "models": {
        "toy-recurrent-gemma": {"source": "toy", "arch": "recurrent_gemma", "seed": 0},
        "toy-jamba": {"source": "toy", "arch": "jamba", "seed": 0},
        "lfm2-stand-in": {"source": "hub", "repo_id": "LiquidAI/LFM2-350M", "revision": "main"},
    }
}
FAMILIES = {"toy-recurrent-gemma": "recurrent_gemma", "toy-jamba": "jamba", "lfm2-stand-in": "lfm2"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    fx.write_synthetic_results(root / "results", models=MODELS, trials_per_cell=2, mmlu_per_subject=5)
    aggregate(root / "results", root / "tables")
    evaluate_claims(root / "tables", root / "claims.csv", models=list(MODELS))
    lfm2 = root / "resources/models/lfm2-stand-in"  # the downloaded snapshot's config.json
    lfm2.mkdir(parents=True)
    (lfm2 / "config.json").write_text(json.dumps({"model_type": "lfm2", "hidden_size": 1024}))
    return root


def test_families_from_config_json_then_the_toy_arch(run, tmp_path) -> None:
    dirs = {name: run / "resources/models" / name for name in MODELS}
    assert model_families(CONFIG, dirs) == FAMILIES
    # without its snapshot a hub model's family is unknown (never guessed from its name)
    assert model_families(CONFIG, {})["lfm2-stand-in"] == "unknown"
    # a config.json names the family even for a toy (the trained toy's own type wins over the config)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "jamba"}))
    assert model_families(CONFIG, {"toy-recurrent-gemma": tmp_path})["toy-recurrent-gemma"] == "jamba"


def test_every_builtin_family_is_its_config_json_model_type() -> None:
    """What lets the report read the family without importing an adapter (no torch in its env)."""
    from hybrid_retrieval.models.registry import BUILTIN_ADAPTERS, family_of, get_adapter

    loaded_text_types = {
        "qwen3_5_text",
        "qwen3_5_moe_text",
    }  # the loaded text model's type, not config.json's
    for model_type in sorted(set(BUILTIN_ADAPTERS) - loaded_text_types):
        assert family_of(get_adapter(model_type)) == model_type


def test_claims_table_grouped_by_family(run) -> None:
    claims = read_claims(run / "claims.csv")
    plain = claims_view(claims)
    grouped = claims_view(claims, FAMILIES)
    assert "family" not in plain.columns
    assert grouped.columns == [*plain.columns[:3], "family", *plain.columns[3:]]
    # the same rows with a family cell; the claims keep their order, each claim's rows by family then model
    assert sorted(r[:3] + r[4:] for r in grouped.rows) == sorted(plain.rows)
    claim_order = list(dict.fromkeys(r[0] for r in plain.rows))
    assert list(dict.fromkeys(r[0] for r in grouped.rows)) == claim_order
    for claim in claim_order:
        assert [(r[3], r[2]) for r in grouped.rows if r[0] == claim] == [
            ("jamba", "toy-jamba"),
            ("lfm2", "lfm2-stand-in"),
            ("recurrent_gemma", "toy-recurrent-gemma"),
        ]
    assert [r[2] for r in plain.rows if r[0] == claim_order[0]] == sorted(MODELS)  # plain: by model name
    # verdicts per family: every claims row counted once, under its model's family
    summary = family_summary_view(claims, FAMILIES)
    assert [r[:2] for r in summary.rows] == [
        ["jamba", "toy-jamba"],
        ["lfm2", "lfm2-stand-in"],
        ["recurrent_gemma", "toy-recurrent-gemma"],
    ]
    for model, family in FAMILIES.items():
        row = next(r for r in summary.rows if r[0] == family)
        for status, count in zip(summary.columns[2:], row[2:], strict=True):
            expected = claims.filter((pl.col("model") == model) & (pl.col("status") == status)).height
            assert int(count) == expected
    assert sum(int(c) for r in summary.rows for c in r[2:]) == claims.height


def test_paper_families_and_one_family_keep_their_layout(run) -> None:
    claims = read_claims(run / "claims.csv").filter(pl.col("model") != "lfm2-stand-in")
    paper = {m: f for m, f in FAMILIES.items() if m != "lfm2-stand-in"}
    two = claims_view(claims, paper)
    # two families: the same rows in the same order, plus the family column; no per-family table
    assert [r[:3] + r[4:] for r in two.rows] == claims_view(claims).rows
    assert family_summary_view(claims, paper) is None
    one = {"toy-jamba": "jamba", "toy-recurrent-gemma": "jamba"}
    assert claims_view(claims, one) == claims_view(claims) and family_summary_view(claims, one) is None
    assert model_label("toy-jamba", one) == "toy-jamba"


def _facet_values(spec: dict) -> set[str]:
    """Every model value in a figure's inline data."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("values"), list):
                found.update(v["model"] for v in node["values"] if isinstance(v, dict) and "model" in v)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return found


def _rows_sorted(node):
    """A spec with every inline data list in a fixed order."""
    if isinstance(node, dict):
        out = {k: _rows_sorted(v) for k, v in node.items()}
        if isinstance(out.get("values"), list):
            out["values"] = sorted(out["values"], key=lambda v: json.dumps(v, sort_keys=True))
        return out
    if isinstance(node, list):
        return [_rows_sorted(v) for v in node]
    return node


def test_figure_panels_are_labelled_by_family(run) -> None:
    plain = {name: chart_spec(c) for name, c in build_figures(run / "tables").items()}
    grouped = {name: chart_spec(c) for name, c in build_figures(run / "tables", FAMILIES).items()}
    assert list(grouped) == list(plain)
    labels = {f"{family} · {model}" for model, family in FAMILIES.items()}
    for name, spec in grouped.items():
        values = _facet_values(spec)
        assert values and values <= labels, name
        assert _facet_values(plain[name]) <= set(MODELS), name
        # apart from the labels (and the data rows' order, sorted by them), the figure is the same
        text = json.dumps(spec, sort_keys=True, ensure_ascii=False)
        for model, family in FAMILIES.items():
            text = text.replace(f"{family} · {model}", model)
        assert _rows_sorted(json.loads(text)) == _rows_sorted(plain[name]), name
    # panels sort by label: family first, so a family's models sit together
    assert sorted(labels) == [
        "jamba · toy-jamba",
        "lfm2 · lfm2-stand-in",
        "recurrent_gemma · toy-recurrent-gemma",
    ]


def test_report_holds_the_grouped_claims_and_the_family_table(run, monkeypatch) -> None:
    monkeypatch.chdir(run)  # the workflow's layout: resources/models/<name> below the run's folder
    out = render_report(
        tables_dir=run / "tables",
        claims_csv=run / "claims.csv",
        config=CONFIG,
        benchmarks_dir=None,
        out_html=run / "report" / "index.html",
    )
    html = out.read_text()
    table = re.search(r'<table id="claims-table">(.*?)</table>', html, re.S).group(1)
    assert "<th>family</th>" in table and "<td>lfm2</td>" in table
    family = re.search(r'<table id="family-table">(.*?)</table>', html, re.S).group(1)
    assert family.count("<tr>") == 1 + 3
    assert json.dumps("lfm2 · lfm2-stand-in")[1:-1] in html  # a figure's panel, in its JSON spec
