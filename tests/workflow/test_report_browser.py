"""The HTML report in a real headless Chromium: the claims table and every figure render, offline."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402

from hybrid_retrieval.analysis.aggregate import aggregate  # noqa: E402
from hybrid_retrieval.claims import evaluate_claims  # noqa: E402
from hybrid_retrieval.report.captions import FIGURE_CAPTIONS  # noqa: E402
from hybrid_retrieval.report.render import render_report  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make system-deps)"),
]


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        # Let the page's scripts (vega-embed's promises) finish before the DOM is dumped.
        "--virtual-time-budget=30000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    fx.write_synthetic_results(root / "results")
    aggregate(root / "results", root / "tables")
    fx.write_attention_maps(root / "results", root / "tables")  # rule summarize_attention_maps, not aggregate
    evaluate_claims(root / "tables", root / "claims.csv")
    return render_report(
        tables_dir=root / "tables",
        claims_csv=root / "claims.csv",
        config={"note": "<script>document.title='pwned'</script>"},
        benchmarks_dir=None,
        out_html=root / "report" / "index.html",
    )


def test_report_renders_in_chromium(report, tmp_path):
    dom = _chromium(tmp_path / "profile", "--dump-dom", report.as_uri()).stdout
    # Claims table rendered with all rows.
    claims = re.search(r'<table id="claims-table">(.*?)</table>', dom, re.S)
    assert claims and claims.group(1).count("<tr>") == 1 + 12  # header + 6 claims x 2 models
    # Every figure: vega-embed put an <svg> in its div and marked it rendered; none failed.
    status = re.search(r'id="figure-status"[^>]*>', dom).group(0)
    assert f'data-rendered="{len(FIGURE_CAPTIONS)}"' in status and 'data-failed="0"' in status
    for name in FIGURE_CAPTIONS:
        div = re.search(rf'<div class="vega-figure[^"]*" id="vis-{name}"[^>]*>(.*?)</figure>', dom, re.S)
        assert div, name
        assert 'data-rendered="true"' in div.group(0) and "<svg" in div.group(1), name
    # No element was marked as failed (the script's own source mentions the class, so match markup).
    assert not re.search(r'class="[^"]*figure-error', dom)
    # The injected config script did not run (the page title is ours).
    assert "<title>Some Attention" in dom and "pwned</title>" not in dom


def test_report_screenshot(report, tmp_path):
    shot = tmp_path / "report.png"
    _chromium(tmp_path / "profile", "--window-size=1280,2000", f"--screenshot={shot}", report.as_uri())
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 50_000  # a blank page compresses to a few kB
