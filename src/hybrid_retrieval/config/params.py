"""Parameters from the validated config: the plain dicts the rules and the CLI pass, and their typed form.

`ConfigParams` (a base of `Config`, apart from the schema's fields and checks) derives the plain-dict
parameters that the Snakefile's `common.smk` and the CLI hand to the package's entry functions: dicts of
builtins, because Snakemake compares params to decide what to rerun. The entry functions turn them back
into the schema's own models once, at the door (`as_model_params`, `as_grid`, `as_haystack`,
`as_settings`), and read typed attributes from then on, so every key has one default: the schema's.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import pydantic

from hybrid_retrieval.config._base import Dtype, ModelName, PrefillBoundary, Strict
from hybrid_retrieval.config.datasets import HubDataset
from hybrid_retrieval.config.experiments import SPARSIFYING_SECTIONS, Experiments, Sparsification
from hybrid_retrieval.config.models import _FAMILY_HINTS, HubModel, LocalModel, ToyModel
from hybrid_retrieval.config.retrieval import Grid, Haystack
from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.filenames import SNAPSHOT_FILE

if TYPE_CHECKING:
    from typing import Self


class ModelParams(Strict):
    """The `model` param of every model job (`Config.model_params`): which model, how it is loaded and
    prompted. Every key is required: the config's model section has already given each its default."""

    name: ModelName
    dtype: Dtype
    chat_template: bool
    prefill_boundary: PrefillBoundary


def _typed(cls: type[pydantic.BaseModel], value: Mapping[str, Any] | pydantic.BaseModel, what: str) -> Any:
    if isinstance(value, cls):
        return value
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump()
    try:
        return cls.model_validate(dict(value))
    except pydantic.ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(
            f"{what} parameters are invalid ({problems}); pass what hybrid_retrieval.config.Config derives "
            f"({cls.__name__})"
        ) from None


def as_model_params(value: Mapping[str, Any] | ModelParams) -> ModelParams:
    """A `model` param (`Config.model_params`) as `ModelParams`."""
    return _typed(ModelParams, value, "model")


def as_grid(value: Mapping[str, Any] | Grid) -> Grid:
    """A `grid` param (`Config.grid_for`: the shared grid with a section's overrides) as `Grid`."""
    return _typed(Grid, value, "grid")


def as_haystack(value: Mapping[str, Any] | Haystack) -> Haystack:
    """A `haystack` param (`Config.haystack_params`) as `Haystack`; keys it does not give take the schema's
    defaults, which are the config's (the param leaves out only what the haystack kind does not read)."""
    return _typed(Haystack, value, "haystack")


@cache
def settings_model(section: str) -> type[Strict]:
    """The model of `Config.settings(section)`: the experiment section's own model, plus
    `sparsification.head_score` (its field, default included) for the sections that sparsify."""
    if section not in Experiments.model_fields:
        raise ConfigError(f"unknown experiment section {section!r}; the sections are {sorted(Experiments.model_fields)}")
    base = Experiments.model_fields[section].annotation
    if section not in SPARSIFYING_SECTIONS:
        return base
    head_score = Sparsification.model_fields["head_score"]
    return pydantic.create_model(
        f"{base.__name__}Settings", __base__=base, head_score=(head_score.annotation, head_score)
    )


def as_settings(section: str, value: Mapping[str, Any] | pydantic.BaseModel) -> Any:
    """A `settings` param (`Config.settings(section)`) as `settings_model(section)`."""
    return _typed(settings_model(section), value, f"experiments.{section} settings")


class ConfigParams:
    """The derivations of `Config` (a base class of it): which models and datasets an experiment uses, and
    the plain-dict parameters of hybrid_retrieval's entry functions, shared by the Snakefile and the CLI."""

    if TYPE_CHECKING:  # the fields of Config that the derivations read
        models: dict[str, ToyModel | HubModel | LocalModel]
        datasets: Any
        haystack: Haystack
        retrieval: Grid
        experiments: Experiments
        sparsification: Sparsification
        numerics: str

    def hub_datasets_in_use(self) -> dict[str, HubDataset]:
        """The `datasets` sources some enabled experiment reads from the hub: {"mmlu": ..., "glue": ...}."""
        used: dict[str, HubDataset] = {}
        if self.experiments.mmlu.enabled and self.experiments.mmlu.dataset == "hub" and self.models_for("mmlu"):
            used["mmlu"] = self.datasets.mmlu
        glue = getattr(self.experiments, "glue", None)
        if glue is not None and getattr(glue, "enabled", False) and getattr(glue, "dataset", "hub") == "hub":
            used["glue"] = self.datasets.glue
        return used

    def with_commits(self, commits: dict[str, str | None]) -> Self:
        """This config with each hub revision replaced by its commit ({"models/org/repo": sha, ...}, as
        hybrid_retrieval.artifact.locking writes); refs without a commit (a dry run without hub) stay as written."""
        models = {
            name: spec.model_copy(update={"revision": commits.get(f"models/{spec.repo_id}") or spec.revision})
            if isinstance(spec, HubModel)
            else spec
            for name, spec in self.models.items()
        }
        datasets = self.datasets.model_copy(
            update={
                name: d.model_copy(update={"revision": commits.get(f"datasets/{d.repo_id}") or d.revision})
                for name, d in ((n, getattr(self.datasets, n)) for n in type(self.datasets).model_fields)
            }
        )
        return self.model_copy(update={"models": models, "datasets": datasets})

    def dataset_record(self, name: str) -> str:
        """Where rule download_dataset writes the snapshot record of `datasets.<name>`."""
        return f"resources/datasets/{getattr(self.datasets, name).repo_id}/{SNAPSHOT_FILE}"

    def models_for(self, section: str) -> list[str]:
        """The models an experiment section runs on ([] when it is disabled), in config order."""
        experiment = getattr(self.experiments, section)
        if not experiment.enabled:
            return []
        chosen = experiment.models
        return [name for name in self.models if chosen is None or name in chosen]

    def grid_for(self, section: str) -> dict[str, Any]:
        """The shared grid with the section's overrides applied, as a plain dict (a rule param)."""
        grid = self.retrieval.model_dump(mode="json")
        override = getattr(self.experiments, section).grid.model_dump(mode="json", exclude_none=True)
        return {**grid, **override}

    # The plain-dict parameters of hybrid_retrieval.jobs.experiments, shared by the Snakefile and the CLI.

    def model_families(self) -> dict[str, str | None]:
        """model -> architecture family as far as the config tells it (the claims' scope column): a toy's
        arch; a hub repo id naming RecurrentGemma or Jamba; None (unknown here) otherwise."""
        families: dict[str, str | None] = {}
        for name, spec in self.models.items():
            if isinstance(spec, ToyModel):
                families[name] = spec.arch
                continue
            where = (spec.repo_id if isinstance(spec, HubModel) else spec.path).lower()
            families[name] = next((f for key, f in _FAMILY_HINTS if key in where), None)
        return families

    def model(self, name: str) -> ToyModel | HubModel | LocalModel:
        if name not in self.models:
            raise ConfigError(f"unknown model {name!r}; the config's models are {sorted(self.models)}")
        return self.models[name]

    def model_params(self, name: str) -> dict[str, Any]:
        """The `model` param of every model job: `ModelParams` (name, dtype, prompting, prefill boundary)."""
        spec = self.model(name)
        return ModelParams(
            name=name, dtype=spec.dtype, chat_template=spec.chat_template, prefill_boundary=spec.prefill_boundary
        ).model_dump(mode="json")

    def model_dir(self, name: str) -> str:
        """resources/models/{name} for toy and hub models, the configured path for local ones."""
        spec = self.model(name)
        return spec.path if isinstance(spec, LocalModel) else f"resources/models/{name}"

    def toy_params(self, name: str) -> dict[str, Any]:
        spec = self.model(name)
        if not isinstance(spec, ToyModel):
            raise ConfigError(f"model {name!r} is a {spec.source} model, not a toy; only toys are trained")
        # numerics is not here: it is its own param of train_toy_model, as of every rule that applies it
        return {"arch": spec.arch, "seed": spec.seed, "overrides": spec.training.overrides()}

    def haystack_params(self, name: str) -> dict[str, Any]:
        """The haystack dict of hybrid_retrieval.jobs.experiments; a toy's synthetic language is its own seed's."""
        hay = self.haystack
        if hay.kind == "paul_graham":
            return {"kind": "paul_graham", "commit": hay.commit, "sha256": hay.sha256, "essays": hay.essays}
        spec = self.model(name)
        language_seed = hay.language_seed
        if language_seed is None:
            language_seed = spec.seed if isinstance(spec, ToyModel) else 0
        return {"kind": "synthetic", "language_seed": language_seed, "seed": hay.seed}

    def settings(self, section: str) -> dict[str, Any]:
        """An experiment's own settings: not which models, not the grid (those have their own params);
        sections that sparsify also get the config's `sparsification.head_score`."""
        settings = getattr(self.experiments, section).model_dump(
            mode="json", exclude={"enabled", "models", "grid"}
        )
        if section in SPARSIFYING_SECTIONS:
            settings["head_score"] = self.sparsification.head_score
        return settings

    def glue_num_shots(self) -> int:
        """experiments.glue.num_shots, or MMLU's when unset (one num_fewshot for both, as the authors ran)."""
        glue = self.experiments.glue.num_shots
        return self.experiments.mmlu.num_shots if glue is None else glue

