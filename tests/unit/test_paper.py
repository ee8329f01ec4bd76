"""The generated LaTeX sources and the PDF build (compiled only where a LaTeX engine is installed)."""

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402

from hybrid_retrieval.analysis.aggregate import aggregate  # noqa: E402
from hybrid_retrieval.claims import evaluate_claims  # noqa: E402
from hybrid_retrieval.report import latex  # noqa: E402
from hybrid_retrieval.report.figures import write_figures  # noqa: E402
from hybrid_retrieval.report.tables import latex_escape  # noqa: E402

MAIN_TEX = Path(__file__).resolve().parents[2] / "paper" / "main.tex"


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    fx.write_synthetic_results(root / "results", trials_per_cell=12, mmlu_per_subject=50)
    aggregate(root / "results", root / "tables")
    # claim 4 FAILs (retention 0.875 is not inside 0.5 +- 0.01); 1, 5a, 5b INCONCLUSIVE at 0.2% (0 of 108)
    evaluate_claims(
        root / "tables",
        root / "claims.csv",
        {"mmlu_mode": "within", "mmlu_paper_retention": 0.5, "mmlu_tolerance": 0.01, "failure_max": 0.002},
    )
    write_figures(root / "tables", root / "figures", formats=("pdf",))
    (root / "paper").mkdir()
    shutil.copy(MAIN_TEX, root / "paper" / "main.tex")
    written = latex.write_paper_sources(
        tables_dir=root / "tables",
        claims_csv=root / "claims.csv",
        figures_dir=root / "figures",
        out_dir=root / "paper" / "generated",
    )
    return root, written


def test_latex_escape():
    assert latex_escape("a_b 50% {x} & $y$ #1 ~ ^ \\") == (
        r"a\_b 50\% \{x\} \& \$y\$ \#1 \textasciitilde{} \textasciicircum{} \textbackslash{}"
    )


def test_macros_carry_measured_numbers(paper):
    root, written = paper
    macros = written["macros"].read_text()
    assert r"\newcommand{\NumModels}{2}" in macros
    assert r"\newcommand{\ModelList}{toy-jamba, toy-recurrent-gemma}" in macros
    assert (
        r"\newcommand{\ClaimFourStatus}{FAIL}" in macros and r"\newcommand{\ClaimTwoStatus}{PASS}" in macros
    )
    assert r"\newcommand{\ClaimsFail}{2}" in macros and r"\newcommand{\ClaimsInconclusive}{6}" in macros
    assert r"\newcommand{\ClaimOneStatus}{INCONCLUSIVE}" in macros
    # each claim's estimate, interval and n per model, from claims.csv
    assert r"\newcommand{\ClaimFourEvidence}{toy-jamba: 87.5\%" in macros
    assert "(n=108)" in macros


def test_every_macro_used_by_main_tex_is_generated(paper):
    import re

    root, written = paper
    defined = set(re.findall(r"\\newcommand\{\\(\w+)\}", written["macros"].read_text()))
    used = set(re.findall(r"\\([A-Z]\w+)", MAIN_TEX.read_text()))
    assert used <= defined, used - defined


def test_sources_reference_existing_files(paper):
    root, written = paper
    figures = written["figures"].read_text()
    assert figures.count(r"\includegraphics") == 7
    for name in ("exposure_grid", "head_maps"):
        assert (root / "paper" / "generated" / "figures" / f"{name}.pdf").exists()
    assert r"\label{tab:claims}" in written["claims"].read_text()
    assert r"toy\_jamba" not in written["tables"].read_text() and "toy-jamba" in written["tables"].read_text()


def test_build_pdf_without_engine_returns_false(paper, monkeypatch, caplog):
    root, _ = paper
    monkeypatch.setattr(latex.shutil, "which", lambda name: None)
    assert latex.build_pdf(root / "paper", root / "nope" / "main.pdf") is False
    assert "no LaTeX engine" in caplog.text and not (root / "nope" / "main.pdf").exists()


@pytest.mark.skipif(latex.latex_engine() is None, reason="no pdflatex/latexmk installed")
def test_build_pdf_compiles(paper):
    root, _ = paper
    out = root / "paper" / "build" / "main.pdf"
    assert latex.build_pdf(root / "paper", out) is True
    assert out.read_bytes().startswith(b"%PDF") and out.stat().st_size > 50_000
    log = (root / "paper" / "build" / "main.log").read_text(errors="replace")
    assert "undefined" not in log.lower()  # every \ref and macro resolved


@pytest.mark.skipif(latex.latex_engine() is None, reason="no pdflatex/latexmk installed")
def test_build_pdf_reports_latex_errors(tmp_path):
    (tmp_path / "main.tex").write_text(
        r"\documentclass{article}\begin{document}\undefinedmacro\end{document}"
    )
    with pytest.raises(latex.HybridRetrievalError, match="Undefined control sequence"):
        latex.build_pdf(tmp_path, tmp_path / "build" / "main.pdf")
