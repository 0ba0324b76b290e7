"""``make demo``: build a small lakehouse from real images and prune it end to end.

Real data: Debian's public-domain openclipart PNGs (with their byte-identical duplicates, so
SemDeDup has something real to find). Real model: an open_clip model assembled offline from two
real pretrained towers (EfficientNet-Lite0 images, MiniLM text). Real engine: local Spark with
Delta Lake. Everything lands under ``data/`` (git-ignored).

    python -m spark_prune.demo [--max-images 2000] [--workdir data]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from spark_prune import summary
from spark_prune.cli import add_overrides, configure_logging
from spark_prune.config import PipelineConfig
from spark_prune.config_loader import load_config

log = logging.getLogger("spark_prune.demo")

QUERIES = (
    "SELECT reason, count(*) AS rows FROM decisions GROUP BY reason ORDER BY rows DESC",
    "SELECT cluster_id, size, round(complexity, 4) AS complexity, quota, capped "
    "FROM clusters ORDER BY complexity DESC LIMIT 10",
    "SELECT id, semdedup_partner, round(semdedup_max_sim, 4) AS similarity FROM decisions "
    "WHERE reason = 'semdedup' ORDER BY semdedup_max_sim DESC LIMIT 10",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m spark_prune.demo", description=__doc__)
    parser.add_argument("--workdir", default="data", help="where the lakehouse and run go")
    parser.add_argument("--max-images", type=int, default=2000, help="images in the sample")
    parser.add_argument("--config", default="conf/demo.yaml", help="the demo's pipeline config")
    add_overrides(parser)
    return parser.parse_args(argv)


def demo_config(args: argparse.Namespace, lakehouse: Path, model: dict[str, Any]) -> PipelineConfig:
    """conf/demo.yaml with the paths the demo built (``model``: the offline model's embed keys)."""
    run_path = Path(args.workdir, "runs", "demo").resolve()
    overrides = [
        f"input.path={lakehouse}",
        f"output.path={run_path}",
        f"embed.model_config={model['model_config']}",
        f"embed.checkpoint={model['checkpoint']}",
        f"embed.cache_path={Path(args.workdir, 'lakehouse', 'clipart_embeddings').resolve()}",
        *args.overrides,
    ]
    return load_config(args.config, overrides)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(argv)
    from spark_prune.demo.clipart import build_sample_lakehouse
    from spark_prune.demo.offline_model import embed_settings
    from spark_prune.pipeline import run
    from spark_prune.report import write_report
    from spark_prune.session import get_spark

    started = time.perf_counter()
    workdir = Path(args.workdir).resolve()
    cache = workdir / "cache"
    spark = get_spark("spark_prune_demo", master="local[2]")
    lakehouse = workdir / "lakehouse" / "clipart"
    log.info("1/4 building the sample lakehouse from real openclipart images ...")
    sample = build_sample_lakehouse(spark, cache, str(lakehouse), max_images=args.max_images)
    log.info("    %s", sample)
    log.info("2/4 building the offline open_clip model from real pretrained towers ...")
    cfg = demo_config(args, lakehouse, embed_settings(cache / "models"))
    log.info("3/4 running embed -> SemDeDup -> DBP on local Spark + Delta ...")
    result = run(spark, cfg)
    log.info("4/4 writing the report ...")
    report = write_report(spark, cfg.output.path, f"{cfg.output.path}/report.html")
    print_summary(result.manifest, cfg, report, time.perf_counter() - started)
    return 0


def print_summary(doc: dict[str, Any], cfg: PipelineConfig, report: str, seconds: float) -> None:
    """The run's summary (as ``spark-prune run`` prints it), then where to look next."""
    run_path = cfg.output.path
    print(f"\nspark_prune demo finished in {seconds:.0f}s")
    summary.print_summary(doc)
    print(f"  {'manifest:':<11}{run_path}/manifest.json")
    print(f"  {'report:':<11}{report}")
    print("\nTry some SQL over the run:")
    for query in QUERIES:
        print(f'  .venv/bin/spark-prune sql --run {run_path} "{query}"')


if __name__ == "__main__":
    sys.exit(main())
