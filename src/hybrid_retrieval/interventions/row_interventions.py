"""Several conditions in one batch: a different intervention spec for each group of batch rows.

`apply_row_interventions(loaded, groups)` is `interventions.apply_intervention` for a batch whose rows
are split into consecutive groups, each under its own spec (and needle spans). The model runs once per
step for all rows (recurrence, MLP, Mamba and projections batched); each attention call is split by
group and each group's slice goes through that spec's own controller, so a group computes exactly what
`apply_intervention(spec)` computes on those rows alone. Mixer ablation zeroes a whole layer's output
and is not supported here (run it with `apply_intervention`).

This module drives the controllers of `hybrid_retrieval.interventions.attention` (`Controller`, installed
through the same `installed` as `apply_intervention`), so the intervention math lives in one place.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from hybrid_retrieval import interventions as iv
from hybrid_retrieval.errors import InterventionError
from hybrid_retrieval.interventions import InterventionSpec, NeedleSpans
from hybrid_retrieval.interventions.attention import Controller, installed


class _RowsController:
    """Duck-types `interventions.attention.Controller`: forwards hooks to every group's controller and splits
    each attention call by rows."""

    def __init__(self, groups: list[tuple[slice, Controller]]) -> None:
        self.groups = groups
        self.rows = groups[-1][0].stop

    def begin_forward(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        for _, controller in self.groups:
            controller.begin_forward(module, args, kwargs)

    def end_forward(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        for _, controller in self.groups:
            controller.end_forward(module, args, kwargs, output)

    def attention(
        self,
        module: nn.Module,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None,
        scaling: float,
        dropout: float = 0.0,
    ) -> tuple[torch.Tensor, None]:
        if query.shape[0] != self.rows:
            raise InterventionError(
                f"the batch has {query.shape[0]} rows but the row groups cover {self.rows}; pass one group "
                "entry per condition with its number of rows"
            )
        outputs = []
        for rows, controller in self.groups:
            mask = attention_mask
            if mask is not None and mask.shape[0] == self.rows:
                mask = mask[rows]
            out, _ = controller.attention(module, query[rows], key[rows], value[rows], mask, scaling, dropout)
            outputs.append(out)
        return torch.cat(outputs, dim=0), None


@contextmanager
def apply_row_interventions(
    loaded, groups: Sequence[tuple[InterventionSpec, NeedleSpans | None]]
) -> Iterator[None]:
    """Inside the block, batch rows run under per-group specs: `groups` lists (spec, needle spans of each
    of its rows) in batch order; a group's row count is its number of span lists. Restores the model."""
    if not groups:
        raise InterventionError("apply_row_interventions needs at least one (spec, needle_spans) group")
    model = loaded.model
    layers = loaded.adapter.attention_layers(model)
    controllers: list[tuple[slice, Controller]] = []
    start = 0
    for spec, spans in groups:
        if spec.kind == "mixer_ablation":
            raise InterventionError("mixer_ablation cannot share a batch with other conditions; run it alone")
        if spans is None:
            raise InterventionError("every row group needs its needle spans (one list per row)")
        iv.validate_spec(spec, loaded)
        checked = iv._check_needle_spans(spec, spans)
        stop = start + len(spans)
        controllers.append((slice(start, stop), Controller(spec, layers, checked, None)))
        start = stop
    with installed(model, layers, _RowsController(controllers)):
        yield
