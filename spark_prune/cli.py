"""``spark-prune``: run, embed, rethreshold, sql, report, export; each calls the library."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spark_prune.config import ConfigError, PipelineConfig
from spark_prune.config_loader import load_config
from spark_prune.formats.errors import ShardError
from spark_prune.summary import print_summary

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file (see conf/)")
    add_overrides(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def add_overrides(parser: argparse.ArgumentParser) -> None:
    """``--set key=value`` (repeatable), as every command that loads a config takes it."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set dbp.keep_fraction=0.3 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spark-prune", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the configured pipeline and write the outputs")
    _common(run)

    embed = sub.add_parser(
        "embed",
        help="only the embed stage: fill the embeddings table (embed.cache_path, default "
        "<output>/embeddings) for input ids not yet there",
    )
    _common(embed)

    rethreshold = sub.add_parser(
        "rethreshold",
        help="re-apply another SemDeDup eps from a previous run's stored similarities",
    )
    _common(rethreshold)
    rethreshold.add_argument("--run", required=True, help="output path of the previous run")
    rethreshold.add_argument("--eps", required=True, type=float, help="the new SemDeDup eps")
    rethreshold.add_argument("--output", required=True, help="output path for the new run")

    evaluate = sub.add_parser(
        "evaluate",
        help="compare pruning strategies and budgets with a linear probe (evaluate: section); "
        "writes <output>/evaluation",
    )
    _common(evaluate)

    sql = sub.add_parser(
        "sql", help="run SQL over a run's tables (views pruned, decisions, clusters)"
    )
    sql.add_argument("--run", required=True, help="output path of a run")
    sql.add_argument("query", help='e.g. "SELECT reason, count(*) FROM decisions GROUP BY 1"')
    sql.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")

    report = sub.add_parser("report", help="write a self-contained HTML report of a run")
    report.add_argument("--run", required=True, help="output path of a run")
    report.add_argument("--out", help="HTML file to write (default <run>/report.html)")

    export = sub.add_parser(
        "export",
        help="write a run's kept rows for other tools: DataComp's subset .npy, or ids as Parquet",
    )
    export.add_argument("--run", required=True, help="output path (or manifest file) of a run")
    export.add_argument(
        "--format",
        required=True,
        choices=("datacomp-subset", "ids"),
        help="datacomp-subset: a local .npy of sorted (u8, u8) uid pairs for DataComp's "
        "resharder; ids: a Parquet directory of kept ids (+ url, caption/text)",
    )
    export.add_argument("--out", required=True, help="FILE.npy or a Parquet directory")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    return parser


def configure_logging(verbose: bool = False) -> None:
    """Our stage and progress lines on stderr; other libraries' only from WARNING up."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("spark_prune").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("transformers").setLevel(logging.ERROR)  # load reports of the text tower


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(verbose=getattr(args, "verbose", False))
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"spark-prune: config error: {exc}", file=sys.stderr)
        return 2
    except ShardError as exc:
        print(f"spark-prune: input error: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        cfg = load_config(args.config, args.overrides)
        return _run(cfg)
    if args.command == "evaluate":
        return _evaluate(load_config(args.config, args.overrides))
    if args.command == "embed":
        return _embed(load_config(args.config, args.overrides))
    if args.command == "rethreshold":
        return _rethreshold(args)
    if args.command == "sql":
        return _sql(args.run, args.query, args.limit)
    if args.command == "report":
        return _report(args.run, args.out)
    if args.command == "export":
        return _export(args)
    raise AssertionError(args.command)


def _session(cfg: PipelineConfig | None = None) -> SparkSession:
    from spark_prune.session import get_spark

    if cfg is None:
        return get_spark()
    return get_spark(cfg.spark.app_name, cfg.spark.master, cfg.spark.conf, cfg.spark.log_level)


def _run(cfg: PipelineConfig) -> int:
    from spark_prune.pipeline import run

    spark = _session(cfg)
    result = run(spark, cfg)
    _print_summary(result.manifest)
    return 0


def _evaluate(cfg: PipelineConfig) -> int:
    from spark_prune.evaluate import evaluate, format_table

    cfg.evaluate.require_label("evaluate")  # before starting Spark
    table = evaluate(_session(cfg), cfg)
    print(format_table(table))
    print(f"evaluation written to {cfg.output.catalog_schema or cfg.output.path}")
    return 0


def _embed(cfg: PipelineConfig) -> int:
    from spark_prune.stages.embed import embed_only

    info = embed_only(_session(cfg), cfg)
    print(json.dumps(info, indent=2, sort_keys=True, default=str))
    return 0


def _rethreshold(args: argparse.Namespace) -> int:
    from spark_prune.pipeline import run
    from spark_prune.rethreshold import rethreshold_config, stored_semdedup
    from spark_prune.runs import open_run

    spark = _session()
    previous = open_run(spark, args.run)
    cfg = rethreshold_config(previous.manifest, args.eps, args.output, args.overrides)
    spark = _session(cfg)
    result = run(spark, cfg, semdedup_from=stored_semdedup(previous, cfg))
    _print_summary(result.manifest)
    return 0


def _sql(run_path: str, query: str, limit: int) -> int:
    from spark_prune.runs import open_run

    spark = _session()
    open_run(spark, run_path).register_views()
    spark.sql(query).show(limit, truncate=False)
    return 0


def _report(run_path: str, out: str | None) -> int:
    from spark_prune.contract import REPORT_FILE
    from spark_prune.report import write_report
    from spark_prune.runs import open_run

    spark = _session()
    default = f"{open_run(spark, run_path).location}/{REPORT_FILE}"
    path = write_report(spark, run_path, out or default)
    print(f"report written to {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from spark_prune.export import ExportError, export_run

    try:
        rows = export_run(_session(), args.run, args.format, args.out, args.overwrite)
    except ExportError as exc:
        print(f"spark-prune: export error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {rows} kept rows ({args.format}) to {args.out}")
    return 0


def _print_summary(doc: dict[str, Any]) -> None:
    print_summary(doc)
    print(json.dumps({"timings_seconds": doc["timings_seconds"]}))


if __name__ == "__main__":
    sys.exit(main())
