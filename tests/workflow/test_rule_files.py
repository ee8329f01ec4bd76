"""Static checks of the workflow files that `snakemake --lint` does not make."""

import re
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]


def test_no_function_is_defined_twice():
    # Snakemake includes every .smk into one namespace: a second `def` silently replaces the first (a
    # duplicate settings_params once dropped sparsification.head_score from every experiment's params).
    names = Counter(
        name
        for path in WORKFLOW_FILES
        for name in re.findall(r"^def (\w+)\(", path.read_text(), flags=re.MULTILINE)
    )
    assert not [name for name, n in names.items() if n > 1]
    assert "settings_params" in names and "grid_params" in names  # the pattern does find definitions


def test_profiles_do_not_print_none_shell_commands():
    # Snakemake 9.27.1 prints "Shell command: None" for every script: rule when printshellcmds is set.
    import yaml

    for profile in sorted((REPO / "profiles").glob("*/config.yaml")):
        assert yaml.safe_load(profile.read_text()).get("printshellcmds") is not True, profile


def test_report_table_captions_are_the_html_reports():
    # `snakemake --report` captions of the summary tables say what the HTML report and the paper say.
    from hybrid_retrieval.report.tables import TABLE_CAPTIONS

    for name in ("retrieval_summary", "sparsity_threshold", "mmlu_summary"):
        rst = (REPO / "workflow" / "report" / f"table_{name}.rst").read_text()
        assert rst.split("\n\n")[0] == TABLE_CAPTIONS[name], name
