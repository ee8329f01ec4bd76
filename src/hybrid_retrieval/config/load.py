"""Loading a config (YAML file or mapping -> `Config`, errors naming each bad key) and exporting its JSON
schema (`workflow/schemas/config.schema.yaml`); `python -m hybrid_retrieval.config --check|--export-schema`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pydantic
import yaml

from hybrid_retrieval.config.schema import Config
from hybrid_retrieval.errors import ConfigError

SCHEMA_PATH = Path("workflow/schemas/config.schema.yaml")


def _location(loc: tuple[Any, ...]) -> str:
    # pydantic puts the union member's tag ("toy", "hub") into the path; the user wrote no such key.
    return ".".join(str(p) for p in loc if p not in ("toy", "hub", "local")) or "(top level)"


def load_config(data: dict[str, Any]) -> Config:
    """Validate a config mapping; raises ConfigError listing each bad key with the reason."""
    try:
        return Config.model_validate(data)
    except pydantic.ValidationError as err:
        lines = []
        for e in err.errors():
            where = _location(e["loc"])
            if e["type"] == "extra_forbidden":
                lines.append(
                    f"{where}: unknown key (a typo? see workflow/schemas/config.schema.yaml for the allowed keys)"
                )
            else:
                lines.append(f"{where}: {e['msg']} (got {e.get('input')!r})")
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines)) from err


def load_config_file(path: str | Path) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist"
            + (f" (relative to the working directory {Path.cwd()}: run from the repository root)" if not path.is_absolute() else "")
            + "; pass --config PATH, e.g. the repository's config/config.yaml, config/paper.yaml or config/smoke.yaml"
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping at the top level, got {type(data).__name__}"
        )
    return load_config(data)


def json_schema() -> dict[str, Any]:
    """The JSON schema of `Config` (draft 2020-12), as written to workflow/schemas/config.schema.yaml."""
    schema = Config.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_yaml() -> str:
    header = "# Generated from hybrid_retrieval.config.Config; do not edit. Regenerate: hybrid-retrieval export-schema\n"
    return header + yaml.safe_dump(json_schema(), sort_keys=True, default_flow_style=False, width=110)


def export_schema(path: str | Path = SCHEMA_PATH) -> Path:
    from hybrid_retrieval.io import write_text

    return write_text(schema_yaml(), path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hybrid_retrieval.config", description="The typed configuration of the whole workflow: one pydantic model, the single schema."
    )
    parser.add_argument(
        "--export-schema",
        metavar="PATH",
        nargs="?",
        const=str(SCHEMA_PATH),
        help="write the JSON schema (YAML)",
    )
    parser.add_argument("--check", metavar="CONFIG", help="validate a config file and exit")
    args = parser.parse_args(argv)
    if args.export_schema:
        print(export_schema(args.export_schema))
    if args.check:
        try:
            load_config_file(args.check)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{args.check}: valid")
    if not (args.export_schema or args.check):
        parser.print_help()
    return 0

