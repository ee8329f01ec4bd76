"""LICENSE, CITATION.cff and the version: one version everywhere (the release tag is v<version>)."""

import tomllib
from pathlib import Path

import yaml

import hybrid_retrieval

REPO = Path(__file__).resolve().parents[2]


def test_license_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    text = (REPO / "LICENSE").read_text()
    assert project["license"] in ("MIT", {"text": "MIT"}) and text.startswith("MIT License")  # SPDX or table
    assert "Copyright (c) 2026 hybrid-retrieval contributors" in text


def test_one_version_in_pyproject_package_and_citation():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert project["version"] == hybrid_retrieval.__version__ == citation["version"]
    assert citation["license"] == "MIT" and citation["cff-version"] == "1.2.0"


def test_citation_cites_the_paper():
    paper = yaml.safe_load((REPO / "CITATION.cff").read_text())["preferred-citation"]
    assert paper["title"] == "Some Attention is All You Need for Retrieval" and paper["year"] == 2025
    assert [a["family-names"] for a in paper["authors"]] == ["Michalak", "Abreu"]
    assert paper["url"] == "https://arxiv.org/abs/2510.19861"
