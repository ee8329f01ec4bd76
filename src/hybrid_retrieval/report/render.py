"""The self-contained HTML report: claims first, then figures, tables, config, versions and runtimes.

One file with no network access: the Vega/Vega-Lite/vega-embed JavaScript comes inline from vl-convert,
each figure's spec sits in a JSON script tag. Jinja2 runs with autoescape and StrictUndefined, so a
config value cannot inject markup and a missing template variable fails the build.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
import polars as pl
import vl_convert as vlc
import yaml

from hybrid_retrieval.claims import criteria, parse_claims_config, read_claims
from hybrid_retrieval.infra.provenance import REPORTED_PACKAGES, git_commit, package_versions  # noqa: F401
from hybrid_retrieval.io import write_text
from hybrid_retrieval.report.captions import FIGURE_CAPTIONS
from hybrid_retrieval.report.deviations import DEVIATIONS
from hybrid_retrieval.report.families import model_families
from hybrid_retrieval.report.figures import VL_VERSION, build_figures, chart_spec
from hybrid_retrieval.report.tables import TableView, claims_view, family_summary_view, report_views

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FigureView:
    name: str
    caption: str
    spec_json: str  # safe inside <script type="application/json">: see _script_json


def _script_json(obj: Any) -> str:
    """JSON that cannot close its <script> element: escape <, > and & as \\u escapes (still valid JSON)."""
    text = json.dumps(obj, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def code_spans(text: Any) -> markupsafe.Markup:
    """Escaped text with Markdown `code` spans as <code> elements (the deviations list is written for
    ARTIFACT.md, in Markdown)."""
    escaped = str(markupsafe.escape(text))
    return markupsafe.Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped))


def toy_banner(config: dict[str, Any]) -> str | None:
    """The report's first words when the run has toy models (None without toys): which models are toys
    and what their verdicts can say."""
    models = config.get("models")
    if not isinstance(models, dict):  # a config this version cannot read: no claim about toys
        return None
    toys = sorted(
        name for name, spec in models.items() if isinstance(spec, dict) and spec.get("source") == "toy"
    )
    if not toys:
        return None
    names = ", ".join(toys)
    if len(toys) == len(models):
        return (
            f"Toy models: every model of this run ({names}) is a tiny version of a real architecture, trained "
            "here in minutes on a synthetic language. The verdicts below say what the protocol measures on "
            "these toys; they neither confirm nor refute the paper's numbers, which are about the real models "
            "(config/paper.yaml, ARTIFACT.md)."
        )
    return (
        f"Toy models: {names} in this run are tiny versions of real architectures, trained here on a synthetic "
        "language; their verdicts say nothing about the paper's numbers. The other models are real."
    )


def _inline_js(code: str) -> str:
    """JavaScript safe to inline in a <script> element ("</script" would end it early)."""
    return code.replace("</script", "<\\/script")


def _job_name(path: Path, root: Path | None) -> str:
    """logs/<rule>/<wildcards>.benchmark.tsv -> "<rule>/<wildcards>" (below `root`, else below the last
    `logs` folder of the path)."""
    if root is not None:
        relative = path.relative_to(root)
    elif "logs" in path.parts:
        relative = Path(*path.parts[len(path.parts) - path.parts[::-1].index("logs") :])
    else:
        relative = path
    return str(relative.with_suffix("")).removesuffix(".benchmark")


def read_benchmarks(
    benchmarks_dir: str | os.PathLike[str] | None = None,
    *,
    files: Sequence[str | os.PathLike[str]] | None = None,
) -> pl.DataFrame:
    """Snakemake `benchmark:` files (tab-separated, seconds in column `s`), one row per file: job (the
    path below `logs/` without suffix), seconds, max_rss_mb (when present) and end (the file's
    modification time, Unix seconds: Snakemake writes it when the job ends). `files`: exactly these (the
    workflow declares the report's jobs' files as its inputs); else every file under `benchmarks_dir`."""
    schema = {"job": pl.String, "seconds": pl.Float64, "max_rss_mb": pl.Float64, "end": pl.Float64}
    if files is not None:
        paths, root = sorted(Path(f) for f in files), None
    elif benchmarks_dir is not None and Path(benchmarks_dir).is_dir():
        root = Path(benchmarks_dir)
        paths = sorted(root.rglob("*.tsv"))
    else:
        return pl.DataFrame(schema=schema)
    rows = []
    for path in paths:
        df = pl.read_csv(path, separator="\t", null_values=["NA", "-"], infer_schema_length=None)
        if "s" not in df.columns or df.is_empty():
            continue  # not a Snakemake benchmark file
        rss = df["max_rss"].cast(pl.Float64, strict=False).mean() if "max_rss" in df.columns else None
        rows.append(
            {
                "job": _job_name(path, root),
                "seconds": float(df["s"].cast(pl.Float64).mean()),
                "max_rss_mb": rss,
                "end": path.stat().st_mtime,
            }
        )
    return pl.DataFrame(rows, schema=schema).sort("job")


def elapsed_seconds(bench: pl.DataFrame) -> float | None:
    """From the first job's start (end - seconds) to the last job's end; None without jobs. The wall-clock
    time of the run when its jobs ran in one uninterrupted invocation; longer when it was resumed."""
    if bench.is_empty():
        return None
    return float(bench["end"].max() - (bench["end"] - bench["seconds"]).min())


def criteria_view(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(claim, criterion) rows from the run's `claims:` config: the text of `claims.criteria`."""
    cfg = parse_claims_config(config.get("claims"))
    return [("rule" if i == "0" else i, text) for i, text in criteria(cfg).items()]


def protocol_view(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(option, value) rows: the protocol choices of this run (each default is the authors', see
    hybrid_retrieval.report.deviations); absent keys are shown with their defaults."""
    from hybrid_retrieval.config import load_config

    try:
        cfg = load_config(config)
    except Exception:  # the report of a config this version cannot read still renders
        return []
    rows = [
        ("haystack.essays", cfg.haystack.essays if cfg.haystack.kind == "paul_graham" else "- (synthetic)"),
        ("retrieval.needle_format", cfg.retrieval.needle_format),
        ("retrieval.insertion", cfg.retrieval.insertion),
        ("retrieval.scoring", cfg.retrieval.scoring),
        ("experiments.exposure.rule", cfg.experiments.exposure.rule),
        ("sparsification.head_score", cfg.sparsification.head_score),
    ]
    for name, spec in cfg.models.items():
        rows.append((f"models.{name}.prefill_boundary", str(getattr(spec, "prefill_boundary", "-"))))
    return rows


def _read_json(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    return json.loads(Path(path).read_text(encoding="utf-8")) if path and Path(path).is_file() else None


def provenance_view(path: str | os.PathLike[str] | None) -> list[tuple[str, str]]:
    """(what, value) rows of results/provenance.json for the report: machine, kernels, numerics, toys."""
    p = _read_json(path)
    if p is None:
        return []
    m, t, n = p.get("machine", {}), p.get("torch", {}), p.get("numerics", {})
    env = ", ".join(f"{k}={v}" for k, v in sorted(n.get("environment", {}).items()) if v is not None)
    rows = [
        ("CPU", f"{m.get('cpu_model')} ({m.get('architecture')}, {m.get('logical_cpus')} logical CPUs)"),
        ("CPU dispatch flags", " ".join(m.get("cpu_dispatch_flags", [])) or "none detected"),
        ("instruction set in use (ATen)", str(t.get("cpu_capability"))),
        ("numerics", f"{n.get('mode')} (in effect: {n.get('effective')}; {n.get('reason')})"),
        ("dispatch environment", env or "none set"),
        ("threads", str(t.get("threads"))),
        ("torch", f"{t.get('version')} (BLAS {t.get('blas')}, {t.get('parallel_backend')})"),
        ("MKL", str(t.get("mkl"))),
        ("oneDNN", f"{t.get('onednn')} ({'enabled' if t.get('onednn_enabled') else 'disabled'})"),
        ("Python", str(m.get("python"))),
        ("OS", str(m.get("os"))),
        ("git commit", str(p.get("git_commit"))),
    ]
    for name, toy in sorted(p.get("models", {}).items()):
        rows.append(
            (
                f"toy {name}",
                f"weights sha256 {toy.get('weights_sha256')}, {toy.get('train_cpu_seconds')} s CPU",
            )
        )
    return rows


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hybrid_retrieval.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "html.j2"], default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["code_spans"] = code_spans
    return env


def render_report(
    *,
    tables_dir: str | os.PathLike[str],
    claims_csv: str | os.PathLike[str],
    config: dict[str, Any],
    benchmarks_dir: str | os.PathLike[str] | None,
    out_html: str | os.PathLike[str],
    benchmarks: Sequence[str | os.PathLike[str]] | None = None,
    repo_dir: str | os.PathLike[str] = ".",
    provenance: str | os.PathLike[str] | None = None,
    reference_check: str | os.PathLike[str] | None = None,
    model_dirs: Mapping[str, str | os.PathLike[str]] | None = None,
) -> Path:
    """Write the report to `out_html` and return its path. `provenance` (results/provenance.json) and
    `reference_check` (results/reference_check.json) fill the provenance section when given. Runtimes:
    `benchmarks` (the workflow: the benchmark files of the jobs the report is built from), else every
    benchmark file under `benchmarks_dir`. `model_dirs` (model -> directory; default: the workflow's layout
    below the current folder) give each model's family (`report.families`): a run of several families has
    its claims and figures grouped by family."""
    claims = read_claims(claims_csv)
    families = model_families(config, model_dirs)
    figures = [
        FigureView(name, FIGURE_CAPTIONS[name], _script_json(chart_spec(chart)))
        for name, chart in build_figures(tables_dir, families).items()
    ]
    bench = read_benchmarks(benchmarks_dir, files=benchmarks)
    elapsed = elapsed_seconds(bench)
    bench_rows = [
        [r["job"], f"{r['seconds']:.1f}", "n/a" if r["max_rss_mb"] is None else f"{r['max_rss_mb']:.0f}"]
        for r in bench.iter_rows(named=True)
    ]
    counts = {
        s: claims.filter(pl.col("status") == s).height for s in ("PASS", "FAIL", "INCONCLUSIVE", "NOT RUN")
    }
    tables: list[TableView] = report_views(tables_dir)
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            title="Some Attention is All You Need for Retrieval: reproduction report",
            generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            claims=claims_view(claims, families),
            family_summary=family_summary_view(claims, families),
            criteria=criteria_view(config),
            protocol=protocol_view(config),
            deviations=DEVIATIONS,
            counts=counts,
            toy_banner=toy_banner(config),
            figures=figures,
            tables=tables,
            config_yaml=yaml.safe_dump(config, sort_keys=True, default_flow_style=False),
            versions=package_versions(),
            commit=git_commit(repo_dir),
            provenance=provenance_view(provenance),
            reference=_read_json(reference_check),
            benchmarks=bench_rows,
            total_seconds=f"{bench['seconds'].sum():.1f}",
            elapsed_seconds=None if elapsed is None else f"{elapsed:.1f}",
            benchmarks_declared=benchmarks is not None,
            vega_bundle=_inline_js(vlc.javascript_bundle(vl_version=VL_VERSION)),
            vl_version=VL_VERSION,
        )
    )
    out = write_text(html, out_html)
    log.info("report: %s (%d figures, %d claims rows)", out, len(figures), claims.height)
    return out
