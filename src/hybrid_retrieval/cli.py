"""`hybrid-retrieval`: every workflow step as a subcommand (usable without Snakemake), and the project's tools.

Each workflow step reads the same config file as the workflow (`--config`, default config/config.yaml),
derives the same plain-dict parameters (`hybrid_retrieval.config.Config`) and makes the same one
keyword-argument call into the package that the rule's script makes, with the same default paths.
Errors of the package (`HybridRetrievalError`) print as one line and exit with status 2.

    hybrid-retrieval train-toy --model toy-jamba
    hybrid-retrieval retrieval --model toy-jamba --experiment attention_ablated --write-prompts
    hybrid-retrieval aggregate && hybrid-retrieval report && hybrid-retrieval paper

The tools (`TOOLS`: lock, check-reference, config-docs, summary, ...) are the `main` of their own module,
imported only when called (so `--help` stays fast), and keep their documented exit statuses
(check-reference: 0 identical, 1 different, 2 no reference or the check could not run).

Size (~700 lines): the door table itself, one short parser and one package call per subcommand (workflow
steps and tools); kept in one file because it is the one place a user reads every option.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hybrid_retrieval.config import EXPERIMENT_SECTIONS, Config, export_schema, load_config_file
from hybrid_retrieval.errors import HybridRetrievalError

DEFAULT_CONFIG = "config/config.yaml"
HAYSTACK_DIR = "resources/haystack/paul_graham"
TABLES_DIR = "results/tables"
CLAIMS_CSV = "results/claims.csv"
FIGURES_DIR = "results/figures"
IN_RUN = ", under runs/<run>/ for a config with run:"  # every default path below: the workflow's
# The config's `device` values (hybrid_retrieval.config.Config.device; a unit test keeps the two equal).
DEVICE_PATTERN = r"^(cpu|auto|mps|cuda(:[0-9]+)?)$"
WRITE_PROMPTS_HELP = (
    "also write the exact prompt of every trial beside the rows, <out stem>.prompts.jsonl keyed by the rows' "
    "prompt_hash (as lm-eval's --log_samples)"
)


def _config(args: argparse.Namespace) -> Config:
    return load_config_file(args.config)


def _in_run(cfg: Config, path: str) -> str:
    """A workflow path as seen from the repository root, where the CLI runs: runs/<run>/<path> for a config
    with `run:` (the Snakefile's workdir for that run), the path itself otherwise and when absolute."""
    if not cfg.run or Path(path).is_absolute():
        return path
    return str(Path("runs") / cfg.run / path)


def _haystack_dir(args: argparse.Namespace, cfg: Config) -> str | None:
    if args.haystack_dir:
        return args.haystack_dir
    return _in_run(cfg, HAYSTACK_DIR) if cfg.haystack.kind == "paul_graham" else None


def _model_dir(args: argparse.Namespace, cfg: Config) -> str:
    return args.model_dir or _in_run(cfg, cfg.model_dir(args.model))


def _device(args: argparse.Namespace, cfg: Config) -> str:
    """`--device` (checked on this machine before anything loads) or the config's `device`."""
    from hybrid_retrieval.models.loading import DeviceError, check_device

    if args.device is None:
        return cfg.device
    if args.device == "auto":
        return "auto"
    try:
        return check_device(args.device)
    except DeviceError as err:
        raise DeviceError(
            f"--device {args.device}: {err}. Here: pass --device cpu (or auto), or leave --device out to use "
            f"the config's device ({cfg.device})"
        ) from None


def _out(args: argparse.Namespace, cfg: Config, default: str) -> str:
    """`--out`, else the workflow's path (under runs/<run>/ for a named run); a `--limit` run goes to
    results/limit-N/..., apart from the workflow's results (aggregate, report and Snakemake never read it)."""
    if args.out:
        return args.out
    default = _in_run(cfg, default)
    return default.replace("results/", f"results/limit-{args.limit}/", 1) if args.limit else default


# ------------------------------------------------------------------------------------------ commands


def cmd_train_toy(args: argparse.Namespace) -> None:
    from hybrid_retrieval.models.toy import train_toy

    cfg = _config(args)
    toy = cfg.toy_params(args.model)
    out = args.out or _in_run(cfg, cfg.model_dir(args.model))
    train_toy(toy["arch"], out, seed=toy["seed"], **toy["overrides"])


def cmd_download_model(args: argparse.Namespace) -> None:
    """--model: the config's hub model at the commit its lock file pins (resolved and locked first, as
    the workflow does, when the lock has no entry yet), into the run's resources/models/<model>."""
    from hybrid_retrieval.artifact.locking import lock_config
    from hybrid_retrieval.infra.hub import download_model_snapshot

    if args.repo_id:  # no config, no lock: the commit itself (download_model_snapshot refuses a branch)
        if not (args.revision and args.out):
            raise HybridRetrievalError("--repo-id needs --revision (a 40-hex commit sha) and --out")
        download_model_snapshot(args.repo_id, args.revision, args.out)
        return
    if not args.model:
        raise HybridRetrievalError("download-model needs --model (a hub model of the config) or --repo-id")
    cfg = _config(args)
    spec = cfg.model(args.model)
    if spec.source != "hub":
        raise HybridRetrievalError(
            f"model {args.model!r} is a {spec.source} model; only hub models are downloaded"
        )
    _, pins = lock_config(cfg, args.config)
    pin = next(p for p in pins if p.ref.key == f"models/{spec.repo_id}")
    out = args.out or _in_run(cfg, cfg.model_dir(args.model))
    download_model_snapshot(spec.repo_id, spec.revision, out, commit=pin.commit)


def cmd_download_haystack(args: argparse.Namespace) -> None:
    from hybrid_retrieval.tasks.haystack import copy_haystack, download_haystack

    cfg = _config(args)
    hay, out = cfg.haystack, args.out or _in_run(cfg, HAYSTACK_DIR)
    if args.from_dir or hay.from_dir:
        copy_haystack(args.from_dir or hay.from_dir, out, sha256=hay.sha256)
    else:
        download_haystack(out, base_url=hay.base_url, commit=hay.commit, sha256=hay.sha256)


def _run_experiment(args: argparse.Namespace, experiment: str, head_scores: str | None = None) -> None:
    from hybrid_retrieval.jobs.experiments import run_experiment

    cfg = _config(args)
    _device(args, cfg)  # a bad --device fails before anything else runs
    section = EXPERIMENT_SECTIONS[experiment]
    run_experiment(
        _model_dir(args, cfg),
        experiment,
        model=cfg.model_params(args.model),
        grid=cfg.grid_for(section),
        haystack=cfg.haystack_params(args.model),
        settings=cfg.settings(section),
        haystack_dir=_haystack_dir(args, cfg),
        head_scores_path=head_scores,
        device=_device(args, cfg),
        threads=args.threads,
        out_path=_out(args, cfg, f"results/{args.model}/retrieval/{experiment}.parquet"),
        limit=args.limit,
        write_prompts=args.write_prompts or cfg.retrieval.write_prompts,
    )


def cmd_retrieval(args: argparse.Namespace) -> None:
    _run_experiment(args, args.experiment)


def cmd_sparsify(args: argparse.Namespace) -> None:
    cfg = _config(args)
    _device(args, cfg)  # before the head-scores check
    scores = args.head_scores
    if scores is None and cfg.experiments.sparsity_sweep.static_heads.enabled:
        scores = _in_run(cfg, f"results/{args.model}/heads/scores.parquet")
        if not Path(scores).is_file():
            raise HybridRetrievalError(
                f"the static-heads control needs {scores}; run `hybrid-retrieval head-scores` first"
            )
    _run_experiment(args, "sparsity_sweep", head_scores=scores)


# The steps over the grid's standard-prompt trials that take a retrieval experiment's arguments:
# subcommand -> (config section, hybrid_retrieval.jobs.experiments function, default output).
TRIAL_STEPS = {
    "head-scores": ("head_scores", "run_head_scores", "results/{model}/heads/scores.parquet"),
    "record": ("recordings", "run_recording", "results/{model}/recordings/heads.parquet"),
}


def cmd_trial_step(args: argparse.Namespace) -> None:
    """head-scores and record (the rules score_attention_heads and record_attention_heads)."""
    from hybrid_retrieval.jobs import experiments

    section, function, out = TRIAL_STEPS[args.command]
    cfg = _config(args)
    getattr(experiments, function)(
        _model_dir(args, cfg),
        model=cfg.model_params(args.model),
        grid=cfg.grid_for(section),
        haystack=cfg.haystack_params(args.model),
        settings=cfg.settings(section),
        haystack_dir=_haystack_dir(args, cfg),
        device=_device(args, cfg),
        threads=args.threads,
        out_path=_out(args, cfg, out.format(model=args.model)),
        limit=args.limit,
    )


def cmd_attention_maps(args: argparse.Namespace) -> None:
    from hybrid_retrieval.jobs.attention_maps import probe_files, run_attention_maps

    cfg = _config(args)
    settings = cfg.settings("attention_maps")
    settings["probes"] = settings["probes"][: args.limit]  # --limit N: the first N probes
    files = probe_files(args.model, settings["probes"])
    run_attention_maps(
        _model_dir(args, cfg),
        model=cfg.model_params(args.model),
        grid=cfg.retrieval.model_dump(mode="json"),
        haystack=cfg.haystack_params(args.model),
        settings=settings,
        out_paths=[str(Path(args.out) / Path(f).name) if args.out else _out(args, cfg, f) for f in files],
        haystack_dir=_haystack_dir(args, cfg),
        device=_device(args, cfg),
        threads=args.threads,
    )


def cmd_mmlu(args: argparse.Namespace) -> None:
    from hybrid_retrieval.jobs.experiments import run_mmlu

    cfg = _config(args)
    s = cfg.settings("mmlu")
    k = "H" if args.k == "H" else int(args.k)
    run_mmlu(
        _model_dir(args, cfg),
        model=cfg.model_params(args.model),
        dataset=args.dataset or s["dataset"],
        k=k,
        num_shots=s["num_shots"],
        chat_template=s["chat_template"],
        batch_size=s["batch_size"],
        max_questions_per_subject=s["max_questions_per_subject"],
        head_score=s["head_score"],  # sparsification.head_score, as the rule passes it
        device=_device(args, cfg),
        threads=args.threads,
        out_path=_out(args, cfg, f"results/{args.model}/mmlu/top-{args.k}-heads.parquet"),
        limit=args.limit,
    )


def cmd_glue(args: argparse.Namespace) -> None:
    """One GLUE task at one k (the rule score_glue): the section's settings, num_shots unset = MMLU's."""
    from hybrid_retrieval.jobs.experiments import mark_limited
    from hybrid_retrieval.jobs.glue_eval import run_glue

    cfg = _config(args)
    s = cfg.settings("glue")
    glue = cfg.experiments.glue
    num_shots = cfg.glue_num_shots()
    if args.dataset:
        dataset = args.dataset
    elif glue.dataset == "hub":
        dataset = _in_run(cfg, cfg.dataset_record("glue"))
        if not Path(dataset).is_file():
            raise HybridRetrievalError(
                f"no GLUE snapshot record at {dataset}; run `hybrid-retrieval download-dataset --dataset glue` "
                "first, or pass --dataset <a nyu-mll/glue snapshot folder>"
            )
    else:
        dataset = glue.dataset
    caps = [n for n in (s["max_docs_per_task"], args.limit) if n]
    out = _out(args, cfg, f"results/{args.model}/glue/{args.task}/top-{args.k}-heads.parquet")
    table = run_glue(
        _model_dir(args, cfg),
        model=cfg.model_params(args.model),
        dataset=dataset,
        task=args.task,
        k="H" if args.k == "H" else int(args.k),
        num_shots=num_shots,
        chat_template=s["chat_template"],
        batch_size=s["batch_size"],
        fewshot_seed=s["fewshot_seed"],
        max_docs_per_task=min(caps) if caps else None,
        head_score=s["head_score"],
        device=_device(args, cfg),
        threads=args.threads,
        out_path=out,
    )
    mark_limited(table, args.limit, out)


def cmd_download_dataset(args: argparse.Namespace) -> None:
    """A hub dataset of the config at the commit its lock file pins, into the HF cache, with the snapshot
    record the scoring steps read (the rule download_dataset)."""
    from hybrid_retrieval.artifact.locking import lock_config
    from hybrid_retrieval.infra.hub import download_snapshot_to

    cfg = _config(args)
    in_use = cfg.hub_datasets_in_use()
    if args.dataset not in in_use:
        raise HybridRetrievalError(
            f"the config reads no hub dataset for {args.dataset} (experiments.{args.dataset} is off, has no "
            f"model, or has a dataset other than 'hub'); hub datasets of this config: {sorted(in_use) or 'none'}"
        )
    repo_id = in_use[args.dataset].repo_id
    _, pins = lock_config(cfg, args.config)
    pin = next(p for p in pins if p.ref.key == f"datasets/{repo_id}")
    out = args.out or _in_run(cfg, cfg.dataset_record(args.dataset))
    download_snapshot_to(repo_id, pin.ref.revision, pin.commit, out, "dataset")
    print(out)


def cmd_aggregate(args: argparse.Namespace) -> None:
    from hybrid_retrieval.analysis.aggregate import aggregate

    cfg = _config(args)
    results_dir = args.results_dir or _in_run(cfg, "results")
    if not any(Path(results_dir).glob("*/*/*.parquet")):
        raise HybridRetrievalError(
            f"no per-trial result files under {results_dir}/<model>/; run an experiment first "
            "(`hybrid-retrieval retrieval ...`), or the whole workflow (`snakemake --cores 2`)"
        )
    out_dir = args.out_dir or _in_run(cfg, TABLES_DIR)
    aggregate(results_dir, out_dir, retention_fraction=cfg.claims.retention_fraction)


def _report_paths(args: argparse.Namespace, cfg: Config) -> tuple[str, str, str]:
    """(tables dir, claims csv, figures dir) of the run: `--tables-dir` or the workflow's paths."""
    return (
        args.tables_dir or _in_run(cfg, TABLES_DIR),
        _in_run(cfg, CLAIMS_CSV),
        _in_run(cfg, FIGURES_DIR),
    )


def _require_tables(tables_dir: str) -> None:
    """Refuse to report on nothing: claims would all read NOT RUN and the report would be empty."""
    from hybrid_retrieval.analysis.aggregate import TABLE_NAMES, read_table

    if all((df := read_table(tables_dir, name)) is None or df.is_empty() for name in TABLE_NAMES):
        raise HybridRetrievalError(
            f"no result table with rows in {tables_dir}; run `hybrid-retrieval aggregate` after the "
            "experiments, or the whole workflow (`snakemake --cores 2`)"
        )


def cmd_report(args: argparse.Namespace) -> None:
    """Claims, figures and the HTML report (the rules check_claims, plot_figures, render_report)."""
    from hybrid_retrieval.claims import evaluate_claims
    from hybrid_retrieval.report.figures import write_figures
    from hybrid_retrieval.report.render import render_report

    cfg = _config(args)
    tables_dir, claims_csv, figures_dir = _report_paths(args, cfg)
    _require_tables(tables_dir)
    evaluate_claims(
        tables_dir,
        claims_csv,
        cfg.claims.model_dump(mode="json"),
        models=list(cfg.models),
        families=cfg.model_families(),
    )
    Path(figures_dir).mkdir(parents=True, exist_ok=True)
    write_figures(tables_dir, figures_dir, formats=tuple(cfg.report.figure_formats))
    render_report(
        tables_dir=tables_dir,
        claims_csv=claims_csv,
        config=cfg.model_dump(mode="json"),
        benchmarks_dir=_in_run(cfg, "logs"),
        out_html=args.out or _in_run(cfg, "results/report/index.html"),
    )


def cmd_paper(args: argparse.Namespace) -> None:
    from hybrid_retrieval.report.latex import build_pdf, write_paper_sources

    cfg = _config(args)
    tables_dir, claims_csv, figures_dir = _report_paths(args, cfg)
    paper_dir = _in_run(cfg, "paper")
    if paper_dir != "paper":  # a named run builds from its own copy, as the workflow's copy_paper_source
        Path(paper_dir).mkdir(parents=True, exist_ok=True)
        shutil.copyfile("paper/main.tex", Path(paper_dir) / "main.tex")
    _require_tables(tables_dir)
    write_paper_sources(
        tables_dir=tables_dir,
        claims_csv=claims_csv,
        figures_dir=figures_dir,
        out_dir=f"{paper_dir}/generated",
    )
    if not args.sources_only and not build_pdf(paper_dir, args.out or f"{paper_dir}/build/main.pdf"):
        raise HybridRetrievalError(
            "no LaTeX engine (latexmk or pdflatex) on PATH; install texlive or pass --sources-only"
        )


def cmd_export_schema(args: argparse.Namespace) -> None:
    print(export_schema(args.out))


# -------------------------------------------------------------------------------------------- tools
# Subcommand -> (module, keyword arguments of its `main(argv, prog=...)`, help). A tool parses its own
# arguments (`hybrid-retrieval lock --help` is the module's help), imported only when called.
TOOLS: dict[str, tuple[str, dict[str, str], str]] = {
    "lock": (
        "hybrid_retrieval.artifact.locking",
        {},
        "resolve a config's hub branches/tags to commits and write its lock file (config/<name>.lock.yaml)",
    ),
    "check-reference": (
        "hybrid_retrieval.artifact.reference",
        {"command": "check"},
        "compare a finished run with reference/ (exit 0 identical, 1 different, 2 no reference or no check)",
    ),
    "refresh-reference": (
        "hybrid_retrieval.artifact.reference",
        {"command": "refresh"},
        "rewrite reference/ and ARTIFACT.md's expected verdicts from a finished default run",
    ),
    "artifact-verdicts": (
        "hybrid_retrieval.artifact.reference",
        {"command": "artifact"},
        "ARTIFACT.md's expected verdicts from reference/claims.csv (--check: exit 1 if out of date)",
    ),
    "summary": (
        "hybrid_retrieval.artifact.run_summary",
        {},
        "a finished run's report, claims and paper paths and its claims table",
    ),
    "config-docs": (
        "hybrid_retrieval.artifact.config_docs",
        {},
        "write config/README.md (every config key) from the schema (--check: exit 1 if out of date)",
    ),
    "claims-design": (
        "hybrid_retrieval.claims.design",
        {},
        "what a config's grid can decide before it runs: n and the interval per claim",
    ),
    "seed-table": (
        "hybrid_retrieval.claims.seed_table",
        {},
        "ARTIFACT.md's verdict table per claim x toy x seed from a seeds run's claims.csv",
    ),
    "generation-config": (
        "hybrid_retrieval.generation.generation_config",
        {},
        "what the authors' generate() call would have done with a checkpoint's generation_config.json",
    ),
}


def run_tool(name: str, argv: Sequence[str]) -> int:
    """The tool's own `main` on the arguments after its name; its exit status is the command's."""
    import importlib

    module, kwargs, _ = TOOLS[name]
    return importlib.import_module(module).main(list(argv), prog=f"hybrid-retrieval {name}", **kwargs)


# ------------------------------------------------------------------------------------------- parser


def _device_arg(value: str) -> str:
    if not re.fullmatch(DEVICE_PATTERN, value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a device; use cpu, cuda, cuda:N, mps or auto")
    return value


def _head_count(value: str) -> str:
    """--k: heads kept per attention layer, a whole number or H (all), as the config's k lists."""
    if value != "H" and not value.isdigit():
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a head count; use a whole number >= 0 or H (all heads)"
        )
    return value


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 1")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hybrid-retrieval", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    from hybrid_retrieval import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str,
        func: Callable[[argparse.Namespace], None],
        help_text: str,
        *,
        model: bool = True,
        threads: bool = False,
        haystack: bool | None = None,
        config: bool = True,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        if config:
            p.add_argument(
                "--config", default=DEFAULT_CONFIG, help=f"workflow config (default {DEFAULT_CONFIG})"
            )
        if model:
            p.add_argument("--model", required=True, help="a model name of the config")
        if threads:
            p.add_argument(
                "--model-dir",
                help="model directory (default: the config's: resources/models/<model> (under runs/<run>/ "
                "for a config with run:) or the local path)",
            )
        if threads if haystack is None else haystack:  # mmlu reads no haystack
            p.add_argument(
                "--haystack-dir", help=f"essay folder for haystack kind paul_graham (default {HAYSTACK_DIR})"
            )
        if threads:
            p.add_argument(
                "--threads", type=int, default=1, help="torch CPU threads (default 1: reproducible)"
            )
            p.add_argument(
                "--device",
                type=_device_arg,
                help="cpu, cuda (every visible GPU), cuda:N, mps or auto (cuda when available); "
                "default: the config's device",
            )
            p.add_argument(
                "--limit",
                type=_positive_int,
                metavar="N",
                help="a quick look: only the first N trials (mmlu: questions per subject); every row gets "
                "a `limit` column and the default output goes to results/limit-N/ (never a result)",
            )
        return p

    add(
        "train-toy", cmd_train_toy, "train a toy model of the config into resources/models/<model>"
    ).add_argument("--out", help=f"model directory to write (default: resources/models/<model>{IN_RUN})")
    p = add(
        "download-model",
        cmd_download_model,
        "download a hub model at the commit its config's lock file pins (config/<name>.lock.yaml)",
        model=False,
    )
    p.add_argument("--model", help="a hub model of the config")
    p.add_argument("--repo-id", help="instead of --model: a hub repo id (needs --revision, --out)")
    p.add_argument(
        "--revision",
        help="with --repo-id: the 40-hex commit sha to download (a --model's branch or tag is resolved and "
        "locked from its config instead)",
    )
    p.add_argument("--out", help=f"model directory to write (default: resources/models/<model>{IN_RUN})")
    p = add(
        "download-haystack",
        cmd_download_haystack,
        "the needle test's essays, pinned and hash-checked",
        model=False,
    )
    p.add_argument("--out", help=f"essay folder to write (default {HAYSTACK_DIR}{IN_RUN})")
    p.add_argument("--from-dir", help="copy from a local PaulGrahamEssays folder instead of downloading")
    p = add("retrieval", cmd_retrieval, "run one needle-test experiment on one model", threads=True)
    p.add_argument(
        "--experiment",
        required=True,
        choices=[e for e in EXPERIMENT_SECTIONS if e != "sparsity_sweep"],
        help="the experiment (its config section; the sparsity sweep is `sparsify`)",
    )
    p.add_argument("--out", help="output parquet (default results/<model>/retrieval/<experiment>.parquet)")
    p.add_argument("--write-prompts", action="store_true", help=WRITE_PROMPTS_HELP)
    p = add(
        "sparsify", cmd_sparsify, "the k sweep with its random-k and static-head controls (E4)", threads=True
    )
    p.add_argument("--head-scores", help="head scores parquet (default results/<model>/heads/scores.parquet)")
    p.add_argument("--out", help="output parquet (default results/<model>/retrieval/sparsity_sweep.parquet)")
    p.add_argument("--write-prompts", action="store_true", help=WRITE_PROMPTS_HELP)
    for name, help_text in (
        ("head-scores", "per-head entropy and ablation effect"),
        ("record", "record kept heads and needle mass per step (E7)"),
    ):
        add(name, cmd_trial_step, help_text, threads=True).add_argument(
            "--out", help=f"output parquet (default {TRIAL_STEPS[name][2].format(model='<model>')})"
        )
    add(
        "attention-maps",
        cmd_attention_maps,
        "raw attention maps and kept heads per step on the probe prompts (experiments.attention_maps)",
        threads=True,
    ).add_argument(
        "--out", help="output folder of the probes' npz files (default results/<model>/attention_maps/)"
    )
    p = add(
        "mmlu",
        cmd_mmlu,
        "multiple-choice accuracy at one k with prefill sparsity (E5)",
        threads=True,
        haystack=False,
    )
    p.add_argument(
        "--k", required=True, type=_head_count, help="heads kept per attention layer, or H for all"
    )
    p.add_argument("--dataset", help="override the config's dataset (toy, a CSV dir, .parquet, hub:...)")
    p.add_argument("--out", help="output parquet (default results/<model>/mmlu/top-<k>-heads.parquet)")
    from hybrid_retrieval.tasks.glue import GLUE_TASK_NAMES

    p = add(
        "glue",
        cmd_glue,
        "one GLUE task's validation documents at one k, prefill sparsity (E5; experiments.glue)",
        threads=True,
        haystack=False,
    )
    p.add_argument("--task", required=True, choices=GLUE_TASK_NAMES, help="the lm-eval glue task")
    p.add_argument(
        "--k", required=True, type=_head_count, help="heads kept per attention layer, or H for all"
    )
    p.add_argument(
        "--dataset",
        help="a nyu-mll/glue snapshot folder or snapshot.json record (default: the config's: the record of "
        f"`download-dataset --dataset glue`, resources/datasets/nyu-mll/glue/snapshot.json{IN_RUN})",
    )
    p.add_argument("--out", help="output parquet (default results/<model>/glue/<task>/top-<k>-heads.parquet)")
    p = add(
        "download-dataset",
        cmd_download_dataset,
        "a hub dataset the config reads (MMLU: cais/mmlu, GLUE: nyu-mll/glue) at its locked commit",
        model=False,
    )
    p.add_argument("--dataset", required=True, choices=("mmlu", "glue"), help="the config's datasets.<name>")
    p.add_argument(
        "--out",
        help=f"the snapshot record to write (default resources/datasets/<repo>/snapshot.json{IN_RUN})",
    )
    p = add("aggregate", cmd_aggregate, "per-trial rows -> results/tables", model=False)
    p.add_argument("--results-dir", help=f"per-trial results to read (default results{IN_RUN})")
    p.add_argument("--out-dir", help=f"where the tables go (default {TABLES_DIR}{IN_RUN})")
    p = add("report", cmd_report, "claims, figures and the HTML report", model=False)
    p.add_argument("--tables-dir", help=f"the aggregated tables (default {TABLES_DIR}{IN_RUN})")
    p.add_argument("--out", help=f"the report (default results/report/index.html{IN_RUN})")
    p = add("paper", cmd_paper, "generated LaTeX sources and the PDF", model=False)
    p.add_argument("--tables-dir", help=f"the aggregated tables (default {TABLES_DIR}{IN_RUN})")
    p.add_argument("--out", help=f"the PDF (default paper/build/main.pdf{IN_RUN})")
    p.add_argument("--sources-only", action="store_true", help="write paper/generated only")
    p = add("export-schema", cmd_export_schema, "write the config's JSON schema", model=False, config=False)
    p.add_argument(
        "--out", default="workflow/schemas/config.schema.yaml", help="schema file (default %(default)s)"
    )
    for name, (_, _, help_text) in TOOLS.items():  # their arguments: the tool's own parser (run_tool)
        sub.add_parser(name, help=help_text, description=help_text, add_help=False).set_defaults(tool=name)
    return parser


def _apply_numerics(args: argparse.Namespace) -> None:
    """The config's CPU numerics (hybrid_retrieval.infra.numerics), as in the rule's script: before torch loads.
    Called in a process that already holds torch (a test calling `main`), it can only say so."""
    from hybrid_retrieval.infra.numerics import apply_numerics

    config = getattr(args, "config", None)  # export-schema has none
    if config is None or not Path(config).is_file():
        return  # the command fails on its own
    mode = _config(args).numerics
    if mode == "portable" and "torch" in sys.modules:
        logging.getLogger(__name__).warning(
            "numerics: portable not applied: torch was loaded before the command"
        )
        return
    apply_numerics(mode, threads=getattr(args, "threads", None))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "tool", None):
        return run_tool(args.tool, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        _apply_numerics(args)
        args.func(args)
    except HybridRetrievalError as err:
        print(f"hybrid-retrieval {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only or full results/ ...: one line naming the path and the fix
        if args.verbose:
            raise
        from hybrid_retrieval.infra.fs_errors import describe_os_error

        print(f"hybrid-retrieval {args.command}: error: {describe_os_error(err)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
