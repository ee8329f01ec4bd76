"""The typed configuration of the whole workflow: one pydantic model, the single schema.

`Config` is what `config/*.yaml` must look like. Every section forbids unknown keys, so a typo fails
before any job runs, with a message naming the key. `workflow/schemas/config.schema.yaml` is exported
from this model (`python -m hybrid_retrieval.config --export-schema`); a test fails when the two drift.
The Snakefile validates with both: `load_config` first (its errors name the key, and it adds the
cross-field rules a JSON schema cannot say, e.g. an experiment names an unknown model), then the JSON
schema through `snakemake.utils.validate`.

One module per section, as PyPSA-Eur's `scripts/lib/validation/config/`:
- `_base`: the strict base model, name/revision patterns, value types shared by sections;
- `models`, `retrieval` (haystack and grid), `datasets`, `experiments` (and `sparsification`), `claims`,
  `report`: the sections;
- `schema`: `Config` itself (fields and cross-checks);
- `params`: the rule and command parameters derived from it (`ConfigParams`, a base of `Config`) and
  their typed form at the package's entry functions (`as_model_params`, `as_grid`, ...);
- `load`: `load_config`, `load_config_file`, the JSON-schema export, `python -m hybrid_retrieval.config`.

The package imports pydantic, yaml and torch-free constants of `tasks/` only: the Snakefile imports it at
parse time (tests/unit/test_layering.py keeps Polars, Altair, vl-convert and torch out).
"""

from hybrid_retrieval.config._base import (
    MODEL_NAME_PATTERN,
    REPO_ID_PATTERN,
    REVISION_HELP,
    REVISION_PATTERN,
    RUN_NAME_PATTERN,
    SHA40_PATTERN,
    Dtype,
    GenerationMode,
    HeadCount,
    ModelName,
    Phase,
    PrefillBoundary,
    PrefillMode,
    PromptVariant,
    Strict,
    check_revision,
)
from hybrid_retrieval.config.claims import ClaimsConfig, ExposureCell
from hybrid_retrieval.config.datasets import Datasets, HubDataset
from hybrid_retrieval.config.experiments import (
    EXPERIMENT_SECTIONS,
    SPARSIFYING_SECTIONS,
    AttentionAblation,
    AttentionMaps,
    Baseline,
    Controls,
    Experiment,
    Experiments,
    Exposure,
    Glue,
    GlueTaskName,
    HeadScores,
    JustReadTwice,
    Mmlu,
    Probe,
    RandomHeads,
    Recordings,
    Sparsification,
    SparsitySweep,
    StaticHeads,
)
from hybrid_retrieval.config.load import (
    SCHEMA_PATH,
    export_schema,
    json_schema,
    load_config,
    load_config_file,
    main,
    schema_yaml,
)
from hybrid_retrieval.config.models import (
    HubModel,
    LocalModel,
    ModelSpec,
    ToyModel,
    ToyTraining,
    toy_num_heads,
)
from hybrid_retrieval.config.params import (
    ConfigParams,
    ModelParams,
    as_grid,
    as_haystack,
    as_model_params,
    as_settings,
    settings_model,
)
from hybrid_retrieval.config.report import Report
from hybrid_retrieval.config.retrieval import Grid, GridOverride, Haystack
from hybrid_retrieval.config.schema import Config

__all__ = [
    "EXPERIMENT_SECTIONS", "MODEL_NAME_PATTERN", "REPO_ID_PATTERN", "REVISION_HELP", "REVISION_PATTERN",
    "RUN_NAME_PATTERN", "SCHEMA_PATH", "SHA40_PATTERN", "SPARSIFYING_SECTIONS",
    "AttentionAblation", "AttentionMaps", "Baseline", "ClaimsConfig", "Config", "ConfigParams", "Controls",
    "Datasets", "Dtype", "Experiment", "Experiments", "Exposure", "ExposureCell", "GenerationMode", "Glue",
    "GlueTaskName", "Grid", "GridOverride", "Haystack", "HeadCount", "HeadScores", "HubDataset", "HubModel",
    "JustReadTwice", "LocalModel", "Mmlu", "ModelName", "ModelParams", "ModelSpec", "Phase", "PrefillBoundary",
    "PrefillMode", "Probe", "PromptVariant", "RandomHeads", "Recordings", "Report", "Sparsification",
    "SparsitySweep", "StaticHeads", "Strict", "ToyModel", "ToyTraining",
    "as_grid", "as_haystack", "as_model_params", "as_settings", "check_revision", "export_schema", "json_schema",
    "load_config", "load_config_file", "main", "schema_yaml", "settings_model", "toy_num_heads",
]  # fmt: skip
