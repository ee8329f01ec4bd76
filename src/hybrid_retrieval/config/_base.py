"""What every config section shares: the strict base model, the name and revision patterns, the value
types. Imports pydantic only (the Snakefile loads the schema at parse time)."""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic
from pydantic import Field

# Model names become path components and Snakemake wildcard values: kebab-case, no "_" or "/".
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9.-]*$"
SHA40_PATTERN = r"^[0-9a-f]{40}$"
# A hub revision: a 40-hex commit sha, or a branch/tag name (resolved once and locked, see locking.py).
REVISION_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$"
REVISION_HELP = (
    "a 40-hex commit sha, or a branch/tag (e.g. main) resolved once to its commit and written to the "
    "config's lock file (config/<name>.lock.yaml); refresh: hybrid-retrieval lock --refresh <config>"
)


def check_revision(value: str) -> str:
    """Refuse the all-zero placeholder sha and names git cannot hold (.., a trailing / or .lock)."""
    if set(value) == {"0"}:
        raise ValueError("revision is all zeros (a placeholder, not a commit); " + REVISION_HELP)
    if ".." in value or value.endswith(("/", ".", ".lock")):
        raise ValueError(f"revision {value!r} is not a valid branch, tag or commit name; " + REVISION_HELP)
    return value


REPO_ID_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
RUN_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"

Dtype = Literal["float32", "bfloat16", "float16"]
Phase = Literal["generation", "all"]
GenerationMode = Literal["keep", "omit", "only", "balanced", "null"]
PrefillMode = Literal["keep", "omit", "only", "balanced", "null", "follow"]
PromptVariant = Literal["base", "jrt", "chat", "chat_jrt"]
# Where prefill ends (the paper's phases; ARTIFACT.md): "auto" = the authors' choice for the architecture
# (RecurrentGemma: last_token_as_generation; Jamba: whole_prompt), see decoding.resolve_prefill_boundary.
PrefillBoundary = Literal["auto", "last_token_as_generation", "whole_prompt"]
# k values of a list: an int (heads kept per attention layer) or "H" (= all heads of the model).
HeadCount = Annotated[int, Field(ge=0)] | Literal["H"]


class Strict(pydantic.BaseModel):
    """Base of every section: unknown keys are errors, values are immutable once validated."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


ModelName = Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]
