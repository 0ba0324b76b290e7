"""``spark-prune``: run, evaluate, embed, rethreshold, sql, report, export; each calls the
library."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from spark_prune.config import PipelineConfig
from spark_prune.config_loader import check_override_keys, load_config
from spark_prune.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UsageError,
    UserError,
    first_line,
    is_spark_error,
    worker_exception,
)
from spark_prune.interrupts import INTERRUPTS
from spark_prune.summary import print_summary

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


PROG = "spark-prune"
DESCRIPTION = (
    "Prune a training dataset in a lakehouse (SemDeDup, CLIP-score filter, density-based "
    "pruning): run, evaluate, embed, rethreshold, sql, report, export."
)
EPILOG = (
    "exit codes: 0 done; 1 the input, output or run does not fit (or Spark failed); "
    "2 bad command line or config; 130 interrupted. --verbose adds tracebacks."
)


class Parser(argparse.ArgumentParser):
    """argparse with our one-line error format (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file (see conf/)")
    add_overrides(parser)
    _verbose(parser)


def _verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging and full tracebacks"
    )


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
    parser = Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    run = sub.add_parser("run", help="run the configured pipeline and write the outputs")
    _common(run)
    run.add_argument(
        "--fresh",
        action="store_true",
        help="ignore the stage checkpoints of an interrupted run and compute every stage again",
    )

    embed = sub.add_parser(
        "embed",
        help="only the embed stage: fill the embeddings table (embed.cache_path, default "
        "<output>/embeddings) for input ids not yet there",
    )
    _common(embed)

    rethreshold = sub.add_parser(
        "rethreshold",
        help="re-apply another SemDeDup eps from a previous run's stored similarities "
        "(the previous run's config, with --set changes)",
    )
    add_overrides(rethreshold)
    _verbose(rethreshold)
    rethreshold.add_argument(
        "--run", required=True, help="output path (or manifest file) of the previous run"
    )
    rethreshold.add_argument("--eps", required=True, type=float, help="the new SemDeDup eps")
    rethreshold.add_argument("--output", required=True, help="output path for the new run")

    evaluate = sub.add_parser(
        "evaluate",
        help="compare pruning strategies and budgets with a linear probe (evaluate: section); "
        "writes <output>/evaluation",
    )
    _common(evaluate)

    sql = sub.add_parser(
        "sql",
        help="run SQL over a run's tables (views pruned, decisions, clusters, semdedup_clusters)",
    )
    sql.add_argument("--run", required=True, help="output path (or manifest file) of a run")
    sql.add_argument("query", help='e.g. "SELECT reason, count(*) FROM decisions GROUP BY 1"')
    sql.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    _verbose(sql)

    report = sub.add_parser("report", help="write a self-contained HTML report of a run")
    report.add_argument("--run", required=True, help="output path (or manifest file) of a run")
    report.add_argument(
        "--out",
        help="HTML file to write (default <run>/report.html; for a --run manifest file "
        "<name>.json other than manifest.json, <name>.report.html beside it)",
    )

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
    _verbose(export)
    _verbose(report)
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
    """Run one command; a user's mistake ends in one ``spark-prune: error:`` line and its
    exit code (``spark_prune.errors``), with the traceback only under ``--verbose``."""
    args = build_parser().parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    configure_logging(verbose=verbose)
    INTERRUPTS.clear()
    try:
        return _dispatch(args)
    except UserError as exc:
        if INTERRUPTS.seen:  # a Spark error wrapped as a user error (an input being read)
            return _fail("interrupted", EXIT_INTERRUPTED, verbose)
        return _fail(str(exc), exc.exit_code, verbose)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED, verbose)
    except Exception as exc:
        if INTERRUPTS.seen:  # Ctrl-C inside a Py4J call: Spark's error is its echo
            return _fail("interrupted", EXIT_INTERRUPTED, verbose)
        if not is_spark_error(exc):
            raise  # a bug in spark_prune: the traceback is the useful report
        message = f"Spark failed: {first_line(exc)}"
        raised = worker_exception(exc)
        if raised is not None and raised[0].startswith("spark_prune."):
            message = raised[1]  # our own error raised in a task (a bad shard ...)
        elif raised is not None:
            message = f"Spark failed: a Python worker raised {raised[0]}: {raised[1]}"
        if _checkpoint_lost_a_file(exc):
            message += (
                "; a stage checkpoint under the output's _stages/ lost a file: rerun with "
                "--fresh to compute its stages again"
            )
        if not verbose:
            message += " (rerun with --verbose for the full traceback)"
        return _fail(message, EXIT_FAILURE, verbose)


def _checkpoint_lost_a_file(exc: Exception) -> bool:
    text = str(exc)
    missing = "FILE_NOT_EXIST" in text or "FileNotFoundException" in text
    return missing and "/_stages/" in text


def _fail(message: str, code: int, verbose: bool) -> int:
    if verbose:
        traceback.print_exc(file=sys.stderr)
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        cfg = load_config(args.config, args.overrides)
        if cfg.embed.enabled:
            cfg.embed.check_ready()  # before Spark starts, not in every Python worker
        return _run(cfg, fresh=args.fresh)
    if args.command == "evaluate":
        return _evaluate(load_config(args.config, args.overrides))
    if args.command == "embed":
        cfg = load_config(args.config, args.overrides)
        cfg.embed.check_ready()
        return _embed(cfg)
    if args.command == "rethreshold":
        return _rethreshold(args)
    if args.command == "sql":
        if args.limit < 1:
            raise UsageError(f"--limit {args.limit}: must be >= 1")
        return _sql(args.run, args.query, args.limit)
    if args.command == "report":
        return _report(args.run, args.out)
    if args.command == "export":
        return _export(args)
    raise AssertionError(args.command)


def _session(cfg: PipelineConfig | None = None) -> SparkSession:
    from spark_prune.session import get_spark

    if cfg is None:
        spark = get_spark()
    else:
        try:
            spark = get_spark(
                cfg.spark.app_name, cfg.spark.master, cfg.spark.conf, cfg.spark.log_level
            )
        except Exception as exc:
            if cfg.spark.master is None or not is_spark_error(exc):
                raise
            raise UserError(
                f"Spark did not start with spark.master {cfg.spark.master!r} (check it): "
                f"{first_line(exc)}"
            ) from exc
    if not logging.getLogger("spark_prune").isEnabledFor(logging.DEBUG):
        _quiet_query_context_log()
    INTERRUPTS.watch()
    return spark


def _run_session(run_path: str) -> SparkSession:
    """The session of a command that reads ``--run``: a local run that does not exist is an
    error before Spark starts (the usual typo, no start-up wait)."""
    from spark_prune.runs import check_run_exists

    check_run_exists(run_path)
    return _session()


def _quiet_query_context_log() -> None:
    """PySpark logs every analysis error again as a JSON ERROR line on stderr, with the Java
    stack (the Python loggers ``DataFrameQueryContextLogger`` for DataFrame calls and
    ``SQLQueryContextLogger`` for SQL text); our one-line error says it already."""
    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # an older PySpark logs nothing of the kind
        return
    for name in ("DataFrameQueryContextLogger", "SQLQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True


def _run(cfg: PipelineConfig, fresh: bool = False) -> int:
    from spark_prune.io import with_absolute_paths
    from spark_prune.lake import is_local_path
    from spark_prune.lease import check_free, lease_dir
    from spark_prune.pipeline import run

    out = with_absolute_paths(cfg).output
    where = lease_dir(out.path, out.manifest_path)
    if is_local_path(where):  # a running run is named before Spark even starts
        check_free(None, where)
    spark = _session(cfg)
    result = run(spark, cfg, fresh=fresh)
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
    from spark_prune.rethreshold import check_not_semdedup, rethreshold_config, stored_semdedup
    from spark_prune.runs import open_run

    if _same_location(args.run, args.output):
        raise UsageError(
            f"--output {args.output!r} is the run being read (--run); choose a new output path"
        )
    if not 0 <= args.eps < 2:
        raise UsageError(f"--eps {args.eps}: must be in [0, 2) (a cosine distance)")
    check_override_keys(args.overrides)  # typos before Spark; values meet the run's config later
    for item in args.overrides:
        check_not_semdedup(item)
    spark = _run_session(args.run)
    previous = open_run(spark, args.run)
    cfg = rethreshold_config(previous.manifest, args.eps, args.output, args.overrides)
    spark = _session(cfg)
    result = run(spark, cfg, semdedup_from=stored_semdedup(previous, cfg))
    _print_summary(result.manifest)
    return 0


def _sql(run_path: str, query: str, limit: int) -> int:
    from spark_prune.runs import open_run
    from spark_prune.sql_guard import check_read_only

    spark = _run_session(run_path)
    check_read_only(spark, query)  # before spark.sql: it runs commands eagerly
    open_run(spark, run_path).register_views()
    try:
        result = spark.sql(query)
    except Exception as exc:
        if not is_spark_error(exc):
            raise
        raise UsageError(f"query: {first_line(exc)}") from exc
    result.show(limit, truncate=False)
    return 0


def _report(run_path: str, out: str | None) -> int:
    from spark_prune.lake import check_local_target
    from spark_prune.report import write_report
    from spark_prune.runs import report_path_for

    out = out or report_path_for(run_path.rstrip("/"))
    check_local_target(out, "--out")
    path = write_report(_run_session(run_path), run_path, out)
    print(f"report written to {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from spark_prune.export import check_export_target, export_run

    check_export_target(args.format, args.out, args.overwrite)  # before Spark starts
    rows = export_run(_run_session(args.run), args.run, args.format, args.out, args.overwrite)
    print(f"wrote {rows} kept rows ({args.format}) to {args.out}")
    return 0


def _same_location(a: str, b: str) -> bool:
    from spark_prune.io import absolute_local_path

    return absolute_local_path(a).rstrip("/") == absolute_local_path(b).rstrip("/")


def _print_summary(doc: dict[str, Any]) -> None:
    print_summary(doc)
    print(json.dumps({"timings_seconds": doc["timings_seconds"]}))


if __name__ == "__main__":
    sys.exit(main())
