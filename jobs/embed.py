"""spark-submit entry point: embed ``input`` with open_clip into the embeddings Delta table.

    spark-submit jobs/embed.py --config conf/run.yaml \
        --set embed.checkpoint=/Volumes/models/effnetlite0-minilm.pt

Reads ``input`` (Delta path, Parquet or table; pinned Delta version), runs
``spark_prune.embed.embed`` and keeps the embeddings in ``embed.cache_path`` (default
``<output>/embeddings``): ``id``, ``image_emb``, ``text_emb``, ``clip_score``, ``embed_error``,
``embed_key``. Reruns embed only ids not yet there. Prints the run's info as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from spark_prune.config import ConfigError, PipelineConfig, load_config


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="embed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config file")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config key (repeatable)")
    return parser.parse_args(argv)


def embed_config(cfg: PipelineConfig) -> PipelineConfig:
    """The config with embedding switched on and a cache location (``<output>/embeddings``)."""
    from spark_prune.io import OutputLocation

    embed_cfg = replace(cfg.embed, enabled=True)
    if embed_cfg.cache_path is None:
        cache = OutputLocation(cfg.output).table_ref("embeddings")
        embed_cfg = replace(embed_cfg, cache_path=cache)
    embed_cfg.validate("embed")
    return replace(cfg, embed=embed_cfg)


def run(cfg: PipelineConfig) -> dict[str, Any]:
    from spark_prune.embed import embed
    from spark_prune.io import read_input
    from spark_prune.session import get_spark

    spark = get_spark(cfg.spark.app_name, cfg.spark.master, cfg.spark.conf, cfg.spark.log_level)
    source, version = read_input(spark, cfg.input)
    _, info = embed(spark, source, cfg.embed, cfg.input.id_column)
    return {"input": cfg.input.path, "input_version": version, **info}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = embed_config(load_config(args.config, args.overrides))
    except ConfigError as exc:
        print(f"embed: config error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(run(cfg), indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
