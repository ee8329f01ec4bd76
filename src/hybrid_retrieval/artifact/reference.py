"""Reference outputs: what the default run produces, committed under reference/, and the check of a run.

`refresh_reference` copies a finished default run's claims.csv, its tables (CSV) and its toys' weight
hashes into reference/ with a MANIFEST.json (sha256 of every file, the config, numerics and commit they
came from). It refuses a run whose numerics were not portable: only portable results are meant to match
on another machine. `compare_reference` checks a run against it and says "identical", or which weight
hashes, files and rows differ, or that no reference is committed yet; it never passes on a missing
reference. The workflow writes its verdict to results/reference_check.json (shown in the report), and

    hybrid-retrieval check-reference     # make check-reference: exit 0 identical, 1 different,
                                         # 2 no reference, or the check could not run (the message says why)
    hybrid-retrieval refresh-reference   # make reference: after a finished `make reproduce`
    hybrid-retrieval artifact-verdicts   # ARTIFACT.md's expected verdicts from reference/claims.csv

(`python -m hybrid_retrieval.artifact.reference check|refresh|artifact` is the same.)

The repository (its reference/, the default config/config.yaml and the runs' folders) is found from the
working directory upwards, so the commands work from any folder of the checkout; a `--config` that does
not exist is an error (exit 2), never a check of the default run.

Size (~430 lines): refresh, compare and the ARTIFACT.md verdict sync share the manifest format;
their command line is the last part.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hybrid_retrieval.errors import ConfigError, DataError
from hybrid_retrieval.infra.provenance import PROVENANCE_FILE, read_provenance
from hybrid_retrieval.io import atomic_path, write_json, write_text

MANIFEST = "MANIFEST.json"
WEIGHTS = "weights.json"
CONFIG = "config.json"
CLAIMS = "claims.csv"
TABLES = "tables"
MAX_ROWS_SHOWN = 10  # per file and side in the printed verdict (the JSON lists up to this many too)
NO_REFERENCE = "no reference committed yet"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_files(results_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Relative name -> path of a run's compared files: claims.csv and tables/*.csv."""
    results_dir = Path(results_dir)
    files = {CLAIMS: results_dir / CLAIMS} if (results_dir / CLAIMS).is_file() else {}
    for path in sorted((results_dir / TABLES).glob("*.csv")):
        files[f"{TABLES}/{path.name}"] = path
    return files


def _weights(provenance: Mapping[str, Any]) -> dict[str, str | None]:
    return {name: m.get("weights_sha256") for name, m in sorted(provenance.get("models", {}).items())}


def refresh_reference(
    results_dir: str | os.PathLike[str], reference_dir: str | os.PathLike[str]
) -> dict[str, Any]:
    """Replace the reference files in `reference_dir` by those of the finished run in `results_dir`
    (its provenance.json, claims.csv and tables/*.csv); README.md there is kept. Returns the manifest."""
    results_dir, reference_dir = Path(results_dir), Path(reference_dir)
    provenance = read_provenance(results_dir / PROVENANCE_FILE)
    if provenance is None:
        raise DataError(
            f"{results_dir / PROVENANCE_FILE} does not exist: run the whole workflow first (make reproduce), "
            "then make reference"
        )
    numerics = provenance.get("numerics", {})
    if numerics.get("effective") != "portable":
        raise DataError(
            f"the run in {results_dir} used numerics {numerics.get('effective')!r} ({numerics.get('reason')}); "
            "a reference must come from portable numerics (config numerics: portable on an x86-64 CPU with AVX2)"
        )
    files = run_files(results_dir)
    if CLAIMS not in files or len(files) < 2:
        raise DataError(f"{results_dir} has no claims.csv or no tables/*.csv: the run is not finished")
    weights = _weights(provenance)
    missing = sorted(name for name, digest in weights.items() if not digest)
    if missing:
        raise DataError(f"toy model(s) {missing} have no weights_sha256 in {results_dir / PROVENANCE_FILE}")
    for name in (CLAIMS, WEIGHTS, CONFIG, MANIFEST):
        (reference_dir / name).unlink(missing_ok=True)
    shutil.rmtree(reference_dir / TABLES, ignore_errors=True)
    for name, path in files.items():
        with atomic_path(reference_dir / name) as tmp:
            shutil.copyfile(path, tmp)
    write_json(weights, reference_dir / WEIGHTS)
    write_json(provenance.get("config", {}), reference_dir / CONFIG)
    manifest = {
        "files": {name: _sha256(reference_dir / name) for name in [*files, WEIGHTS, CONFIG]},
        "git_commit": provenance.get("git_commit"),
        "numerics": numerics.get("effective"),
        "cpu_capability": provenance.get("torch", {}).get("cpu_capability"),
        "torch": provenance.get("torch", {}).get("version"),
        "produced_on": provenance.get("machine", {}).get("cpu_model"),
    }
    write_json(manifest, reference_dir / MANIFEST)  # last: a reference without it counts as absent
    return manifest


def _rows(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = [tuple(r) for r in csv.reader(f)]
    return (list(rows[0]) if rows else []), rows[1:]


def _line(row: tuple[str, ...]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


def _compare_csv(run: Path, ref: Path) -> dict[str, Any]:
    run_header, run_rows = _rows(run)
    ref_header, ref_rows = _rows(ref)
    if run_header != ref_header:
        return {"status": "different", "header_run": run_header, "header_reference": ref_header}
    only_run = Counter(run_rows) - Counter(ref_rows)
    only_ref = Counter(ref_rows) - Counter(run_rows)
    if not only_run and not only_ref:
        if run_rows != ref_rows:
            return {"status": "different", "note": "same rows in another order"}
        return {"status": "identical"}
    return {
        "status": "different",
        "header": run_header,
        "rows_only_in_run": sum(only_run.values()),
        "rows_only_in_reference": sum(only_ref.values()),
        "run_rows": [_line(r) for r in list(only_run.elements())[:MAX_ROWS_SHOWN]],
        "reference_rows": [_line(r) for r in list(only_ref.elements())[:MAX_ROWS_SHOWN]],
    }


def _config_differences(run: Any, ref: Any, prefix: str = "") -> list[str]:
    if isinstance(run, dict) and isinstance(ref, dict):
        out = []
        for key in sorted(set(run) | set(ref)):
            where = f"{prefix}.{key}" if prefix else str(key)
            if key not in run or key not in ref:
                out.append(where)
            else:
                out += _config_differences(run[key], ref[key], where)
        return out
    return [] if run == ref else [prefix or "(config)"]


def compare_reference(
    results_dir: str | os.PathLike[str], reference_dir: str | os.PathLike[str]
) -> dict[str, Any]:
    """The run in `results_dir` against `reference_dir`: status identical | different | no_reference,
    with the weight hashes, files and rows that differ, and the config keys that differ (a run of
    another config is not expected to match; it is compared all the same)."""
    results_dir, reference_dir = Path(results_dir), Path(reference_dir)
    manifest_path = reference_dir / MANIFEST
    if not manifest_path.is_file():
        return {
            "status": "no_reference",
            "reference_dir": str(reference_dir),
            "summary": f"{NO_REFERENCE} ({manifest_path} is missing; see reference/README.md to produce one)",
        }
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    provenance = read_provenance(results_dir / PROVENANCE_FILE) or {}
    ref_weights = json.loads((reference_dir / WEIGHTS).read_text(encoding="utf-8"))
    run_weights = _weights(provenance)
    weights = [
        {
            "model": name,
            "run": run_weights.get(name),
            "reference": ref_weights.get(name),
            "status": "identical" if run_weights.get(name) == ref_weights.get(name) else "different",
        }
        for name in sorted(set(ref_weights) | set(run_weights))
    ]
    ref_files = {n for n in manifest["files"] if n not in (WEIGHTS, CONFIG)}
    found = run_files(results_dir)
    files = []
    for name in sorted(ref_files | set(found)):
        if name not in found:
            files.append({"file": name, "status": "missing in run"})
        elif name not in ref_files:
            files.append({"file": name, "status": "not in reference"})
        else:
            files.append({"file": name, **_compare_csv(found[name], reference_dir / name)})
    ref_config_path = reference_dir / CONFIG
    ref_config = json.loads(ref_config_path.read_text(encoding="utf-8")) if ref_config_path.is_file() else {}
    config_diff = _config_differences(provenance.get("config", {}), ref_config) if provenance else []
    differing = [f["file"] for f in files if f["status"] != "identical"]
    differing_weights = [w["model"] for w in weights if w["status"] != "identical"]
    identical = not differing and not differing_weights and bool(provenance)
    if identical:
        summary = f"identical ({len(files)} files, {len(weights)} weight hashes)"
    elif not provenance:
        summary = f"different: {results_dir / PROVENANCE_FILE} is missing (the run is not finished)"
    else:
        parts = []
        if differing_weights:
            parts.append(f"weights of {', '.join(differing_weights)}")
        if differing:
            parts.append(f"{len(differing)} of {len(files)} files ({', '.join(differing)})")
        summary = "different: " + "; ".join(parts)
    if config_diff:
        summary += f" [this run's config differs from the reference's at {', '.join(config_diff[:8])}]"
    return {
        "status": "identical" if identical else "different",
        "summary": summary,
        "reference_dir": str(reference_dir),
        "reference": {
            k: manifest.get(k) for k in ("git_commit", "numerics", "cpu_capability", "torch", "produced_on")
        },
        "run_numerics": provenance.get("numerics", {}).get("effective"),
        "config_differences": config_diff,
        "weights": weights,
        "files": files,
    }


def format_comparison(result: Mapping[str, Any]) -> str:
    """The verdict as the terminal shows it: one line, then what differs (weights, files, rows)."""
    lines = [f"reference check: {result['summary']}"]
    for w in result.get("weights", []):
        if w["status"] != "identical":
            lines.append(f"  weights {w['model']}: run {w['run']}  reference {w['reference']}")
    for f in result.get("files", []):
        if f["status"] == "identical":
            continue
        detail = f["status"]
        if "rows_only_in_run" in f:
            detail = f"{f['rows_only_in_run']} row(s) only in the run, {f['rows_only_in_reference']} only in the reference"
        elif "note" in f:
            detail = f["note"]
        elif "header_run" in f:
            detail = "the columns differ"
        lines.append(f"  {f['file']}: {detail}")
        if "header" in f and (f["run_rows"] or f["reference_rows"]):
            lines.append(f"      columns: {_line(tuple(f['header']))}")
            lines += [f"    - reference: {r}" for r in f["reference_rows"]]
            lines += [f"    + run:       {r}" for r in f["run_rows"]]
    return "\n".join(lines)


def write_comparison(
    results_dir: str | os.PathLike[str],
    reference_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
) -> dict[str, Any]:
    result = compare_reference(results_dir, reference_dir)
    write_json(result, out_path)
    return result


def repository_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The checkout holding the workflow: the first folder from `start` (default: the working directory)
    upwards with a Snakefile and a reference/ folder, else the one this package was installed from (an
    editable install)."""
    here = Path(start or Path.cwd()).resolve()
    package_checkout = Path(__file__).resolve().parents[3]
    for folder in (here, *here.parents, package_checkout):
        if (folder / "Snakefile").is_file() and (folder / "reference").is_dir():
            return folder
    raise ConfigError(
        f"no hybrid-retrieval checkout (a folder with Snakefile and reference/) at or above {here}; "
        "run the command inside the repository, or pass --results and --reference"
    )


def results_dir_of(config_file: str | os.PathLike[str], root: str | os.PathLike[str] = ".") -> Path:
    """<root>/results, or <root>/runs/<run>/results for a config that names its run (the Snakefile's
    workdir). A config file that does not exist is an error: checking the default run instead would
    answer a question nobody asked."""
    from hybrid_retrieval.config import load_config_file

    if not Path(config_file).is_file():
        raise ConfigError(
            f"config file {config_file} does not exist; pass an existing one, e.g. CONFIG=config/config.yaml "
            "(config/paper.yaml, config/smoke.yaml)"
        )
    run = load_config_file(config_file).run
    return Path(root) / "runs" / run / "results" if run else Path(root) / "results"


# ------------------------------------------------------------------------ ARTIFACT.md's expected verdicts

ARTIFACT = "ARTIFACT.md"
VERDICTS_BEGIN = (
    "<!-- expected-verdicts: generated from reference/claims.csv by `make reference`; do not edit -->"
)
VERDICTS_END = "<!-- /expected-verdicts -->"
VERDICT_COLUMNS = ("claim_id", "model", "status")
STATUS_ORDER = ("PASS", "FAIL", "INCONCLUSIVE", "NOT RUN")  # others follow in the order they appear


def _claims_list(ids: list[str]) -> str:
    """'claim 1', 'claims 1 and 5', 'claims 1, 2 and 5'."""
    if len(ids) == 1:
        return f"claim {ids[0]}"
    return f"claims {', '.join(ids[:-1])} and {ids[-1]}"


def expected_verdicts(claims_csv: str | os.PathLike[str]) -> str:
    """One sentence per model: which claims PASS, FAIL, ... in `claims_csv` (columns claim_id, model and
    status at least, any others ignored), models and claims in the file's order."""
    path = Path(claims_csv)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in VERDICT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path} has no column(s) {missing} (it has {reader.fieldnames}); refresh it")
        rows = list(reader)
    if not rows:
        raise DataError(f"{path} has no claim rows; refresh it from a finished run (make reference)")
    by_model: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        ids = by_model.setdefault(row["model"], {}).setdefault(row["status"], [])
        if row["claim_id"] not in ids:
            ids.append(row["claim_id"])
    sentences = []
    for model, by_status in by_model.items():
        order = [s for s in STATUS_ORDER if s in by_status] + [s for s in by_status if s not in STATUS_ORDER]
        parts = [f"{_claims_list(by_status[status])} {status}" for status in order]
        sentences.append(f"`{model}`: {'; '.join(parts)}.")
    return "\n".join(f"- {sentence}" for sentence in sentences)


def sync_artifact(
    artifact: str | os.PathLike[str], claims_csv: str | os.PathLike[str], *, check: bool
) -> bool:
    """Write (or with `check`, compare) the block between VERDICTS_BEGIN and VERDICTS_END of `artifact`
    from `claims_csv`. True when the file was (or is) up to date."""
    path = Path(artifact)
    text = path.read_text(encoding="utf-8")
    if text.count(VERDICTS_BEGIN) != 1 or text.count(VERDICTS_END) != 1:
        raise DataError(f"{path} needs exactly one {VERDICTS_BEGIN} ... {VERDICTS_END} block")
    head, rest = text.split(VERDICTS_BEGIN)
    _, tail = rest.split(VERDICTS_END)
    new = f"{head}{VERDICTS_BEGIN}\n{expected_verdicts(claims_csv)}\n{VERDICTS_END}{tail}"
    if new == text:
        return True
    if not check:
        write_text(new, path)
    return False


EXIT_CODES = {"identical": 0, "different": 1, "no_reference": 2}
EXIT_ERROR = 2  # the check could not run (no such config, no checkout): as "no reference", never a pass


def main(
    argv: list[str] | None = None, prog: str = "python -m hybrid_retrieval.artifact.reference", command: str | None = None
) -> int:
    """`hybrid-retrieval check-reference | refresh-reference | artifact-verdicts` (`command` given), or
    `main(["check", ...])` with the command as the first argument."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    if command is None:
        parser.add_argument("command", choices=("check", "refresh", "artifact"))
    else:
        parser.set_defaults(command=command)
    parser.add_argument(
        "--config",
        help="the run's config, which names its results folder (default: the checkout's config/config.yaml)",
    )
    parser.add_argument(
        "--results",
        help="the run's results folder (default: the checkout's results/, or runs/<run>/results)",
    )
    parser.add_argument("--reference", help="the reference folder (default: the checkout's reference/)")
    if command in (None, "artifact"):
        parser.add_argument(
            "--check", action="store_true", help="artifact: exit 1 if ARTIFACT.md's verdicts are out of date"
        )
    args = parser.parse_args(argv)
    try:
        root = (
            repository_root()
            if None in (args.results, args.reference) or args.command == "artifact"
            else None
        )
        reference_dir = Path(args.reference) if args.reference else root / "reference"
        if args.command == "artifact":
            current = sync_artifact(root / ARTIFACT, reference_dir / CLAIMS, check=args.check)
            if args.check and not current:
                print(
                    f"{root / ARTIFACT}: expected verdicts out of date; run `hybrid-retrieval artifact-verdicts`",
                    file=sys.stderr,
                )
                return 1
            print(f"{root / ARTIFACT}: expected verdicts from {reference_dir / CLAIMS}")
            return 0
        if args.results is None:
            config = args.config or root / "config" / "config.yaml"
            args.results = results_dir_of(config, root)
        elif args.config and not Path(args.config).is_file():
            results_dir_of(args.config)  # the same error: a config that does not exist is never ignored
        if args.command == "refresh":
            manifest = refresh_reference(args.results, reference_dir)
            print(f"reference: {len(manifest['files'])} files written to {reference_dir} from {args.results}")
            if root is not None and (root / ARTIFACT).is_file():
                sync_artifact(root / ARTIFACT, reference_dir / CLAIMS, check=False)
                print(f"{root / ARTIFACT}: expected verdicts from {reference_dir / CLAIMS}")
            return 0
        if not (Path(args.results) / PROVENANCE_FILE).is_file():
            raise DataError(
                f"no finished run in {args.results} (no {PROVENANCE_FILE}): run `make reproduce"
                + (f" CONFIG={args.config}`" if args.config else "`")
                + " first, or pass the run's --config"
            )
        result = compare_reference(args.results, reference_dir)
    except (ConfigError, DataError, OSError) as err:
        print(f"reference {args.command}: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(format_comparison(result))
    return EXIT_CODES[result["status"]]


if __name__ == "__main__":
    raise SystemExit(main())
