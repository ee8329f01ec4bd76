"""Section `datasets`: the hub sources of the evaluation datasets (MMLU, GLUE)."""

from __future__ import annotations

import pydantic
from pydantic import Field

from hybrid_retrieval.config._base import (
    REPO_ID_PATTERN,
    REVISION_HELP,
    REVISION_PATTERN,
    Strict,
    check_revision,
)

# ------------------------------------------------------------------------------------------- datasets


class HubDataset(Strict):
    """A hub dataset repository, downloaded by the workflow (rule download_dataset) at one exact commit
    into the HF cache; `resources/datasets/<repo_id>/snapshot.json` records {repo_id, revision, commit, path}."""

    repo_id: str = Field(pattern=REPO_ID_PATTERN, description="Hub dataset repository (org/name).")
    revision: str = Field("main", pattern=REVISION_PATTERN, description=REVISION_HELP)

    @pydantic.field_validator("revision")
    @classmethod
    def _real_revision(cls, value: str) -> str:
        return check_revision(value)


class Datasets(Strict):
    """Hub sources of the evaluation datasets (the repos lm-eval 0.4's tasks read). A source is
    downloaded only when an experiment uses it: MMLU when experiments.mmlu.dataset is "hub", GLUE when an
    enabled experiments.glue section reads the hub (see Config.hub_datasets_in_use)."""

    mmlu: HubDataset = HubDataset(repo_id="cais/mmlu")
    """MMLU's hub dataset, read when experiments.mmlu.dataset is "hub"."""
    glue: HubDataset = HubDataset(repo_id="nyu-mll/glue")
    """GLUE's hub dataset, read when experiments.glue is enabled with dataset "hub"."""


