"""Benchmark: the Spark embedding stage vs a plain single-process open_clip loop, same images.

Images: seeded random crops (JPEG, various sizes) of scikit-learn's two real sample photos.
Model: the offline open_clip ``effnetlite0-minilm`` (EfficientNet-Lite0 image tower, 224 px;
built into ``~/.cache/spark_prune/models`` on first use). Image tower only unless ``--captions``.

Figures printed (and to ``--json``):
Loop and UDF times are the best of ``--repeats`` runs (the machine may be shared).

* ``loop``: one Python process, ``torch.set_num_threads(1)``: decode + preprocess + encode +
  L2-normalise in batches; this is one core's worth of work.
* ``spark_udf``: the embedding UDF alone on ``local[N]`` (``noop`` sink), after a warm-up that
  starts the Python workers and loads the model once in each.
* ``spark_stage``: the whole ``embed()`` with a fresh Delta cache (anti-join, UDF, append,
  history), i.e. what the pipeline pays on a first run.
Per-core = images/s divided by the cores Spark uses (Spark sets ``OMP_NUM_THREADS=1`` per task,
one task per core), compared with the one-thread loop. Because wall clock on a shared 2-core
machine is noisy, the CPU seconds of the whole process tree (driver, JVM, Python workers) are
measured too: images per CPU-second is the same normalisation, robust to other load.

    .venv/bin/python bench/bench_embed.py                  # 512 images (~2-3 minutes on 2 cores)
    .venv/bin/python bench/bench_embed.py --images 128     # a quick look
    .venv/bin/python bench/bench_embed.py --device cuda --images 4096 --cores 8   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2, help="local[N]")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--captions", action="store_true", help="embed captions too")
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="best of N for the loop and the UDF (the machine may be shared)",
    )
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="cuda: the model on the GPU in the loop and in every Spark task "
        "(decode and preprocess stay on the CPU workers)",
    )
    return parser.parse_args()


def tree_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of this process and all its descendants (JVM, workers)."""
    import psutil

    me = psutil.Process()
    out = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        out[proc.pid] = times.user + times.system
    return out


def timed(action: Any) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process tree) spent in ``action()``."""
    before = tree_cpu()
    start = time.perf_counter()
    action()
    wall = time.perf_counter() - start
    after = tree_cpu()
    return wall, sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def plain_loop(
    images: list[bytes],
    texts: list[str] | None,
    checkpoint: Path,
    batch_size: int,
    device: str = "cpu",
) -> tuple[float, float]:
    """(wall, CPU) seconds of a plain open_clip loop (one CPU thread) over the same image bytes;
    with ``device="cuda"`` the model runs on the GPU, decode and preprocess on that thread."""
    import io

    import open_clip
    import torch
    from PIL import Image

    from spark_prune.demo.offline_model import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        OFFLINE_MODEL,
        write_model_config,
    )

    torch.set_num_threads(1)
    open_clip.add_model_config(write_model_config(Path(checkpoint).parent))
    model, _, preprocess = open_clip.create_model_and_transforms(
        OFFLINE_MODEL, pretrained=str(checkpoint), image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD
    )
    model.eval().to(device)
    tokenizer = open_clip.get_tokenizer(OFFLINE_MODEL)

    def run() -> None:
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                pil = [Image.open(io.BytesIO(b)).convert("RGB") for b in images[i : i + batch_size]]
                x = torch.stack([preprocess(p) for p in pil]).to(device)
                model.encode_image(x, normalize=True).cpu().numpy()
                if texts is not None:
                    tokens = tokenizer(texts[i : i + batch_size]).to(device)
                    model.encode_text(tokens, normalize=True).cpu().numpy()

    return timed(run)


def spark_runs(
    images: list[bytes],
    texts: list[str] | None,
    checkpoint: Path,
    args: argparse.Namespace,
    work: Path,
) -> dict[str, tuple[float, float]]:
    from pyspark.sql import functions as F

    from spark_prune.embed import embed
    from spark_prune.embed.stage import _STRUCT, arrow_batch_size, with_embeddings
    from spark_prune.session import get_spark
    from tests.embed_fixtures import embed_config

    spark = get_spark(
        "bench_embed",
        master=f"local[{args.cores}]",
        conf={
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": str(args.partitions),
            "spark.sql.files.maxPartitionBytes": "1m",
        },
    )  # a file = a partition
    source = str(work / "images.parquet")
    rows = [(i, b, texts[i] if texts else None) for i, b in enumerate(images)]
    (
        spark.createDataFrame(rows, "id long, image binary, caption string")
        .repartition(args.partitions)
        .write.mode("overwrite")
        .parquet(source)
    )
    df = spark.read.parquet(source)
    cfg = embed_config(
        checkpoint,
        batch_size=args.batch_size,
        device=args.device,
        text_column="caption" if texts else None,
    )
    udf_only = with_embeddings(df, cfg).select(F.col(_STRUCT)["embed_error"])

    def noop() -> None:
        with arrow_batch_size(spark, args.batch_size):
            udf_only.write.format("noop").mode("overwrite").save()

    warmup = timed(noop)  # starts the Python workers and loads the model in each
    udf = min(timed(noop) for _ in range(args.repeats))
    cached = replace_cache(cfg, work / "cache")
    info: dict[str, Any] = {}
    stage = timed(lambda: info.update(embed(spark, df, cached, "id")[1]))
    assert info["embedded"] == len(images), info
    spark.stop()
    return {"warmup": warmup, "udf": udf, "stage": stage}


def replace_cache(cfg: Any, path: Path) -> Any:
    from dataclasses import replace

    shutil.rmtree(path, ignore_errors=True)
    return replace(cfg, cache_path=str(path))


def main() -> int:
    args = parse_args()
    from tests.embed_fixtures import CAPTIONS, offline_checkpoint, random_crops

    checkpoint = offline_checkpoint()
    images = random_crops(args.images, seed=0)
    captions = list(CAPTIONS.values())
    texts = [captions[i % 2] + f" #{i}" for i in range(len(images))] if args.captions else None
    with tempfile.TemporaryDirectory(prefix="bench_embed_") as tmp:
        spark = spark_runs(images, texts, checkpoint, args, Path(tmp))
    loop = min(
        plain_loop(images, texts, checkpoint, args.batch_size, args.device)
        for _ in range(args.repeats)
    )
    figures = report(args, len(images), loop, spark)
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


def report(
    args: argparse.Namespace,
    n: int,
    loop: tuple[float, float],
    spark: dict[str, tuple[float, float]],
) -> dict[str, Any]:
    import open_clip
    import torch

    loop_rate, loop_cpu_rate = n / loop[0], n / loop[1]
    out: dict[str, Any] = {
        "images": n,
        "batch_size": args.batch_size,
        "cores": args.cores,
        "repeats": args.repeats,
        "partitions": args.partitions,
        "captions": args.captions,
        "model": "effnetlite0-minilm (EfficientNet-Lite0 224px + all-MiniLM-L6-v2)",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, "
        f"torch {torch.__version__}, open_clip {open_clip.__version__}",
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "device": args.device,
        "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
        "loop_1_thread_images_per_s": round(loop_rate, 2),
        "loop_images_per_cpu_s": round(loop_cpu_rate, 2),
        "spark_warmup_seconds": round(spark["warmup"][0], 2),
    }
    for name in ("udf", "stage"):
        wall, cpu = spark[name]
        rate = n / wall
        out[f"spark_{name}_images_per_s"] = round(rate, 2)
        out[f"spark_{name}_images_per_s_per_core"] = round(rate / args.cores, 2)
        out[f"spark_{name}_per_core_vs_loop"] = round(rate / args.cores / loop_rate, 3)
        out[f"spark_{name}_images_per_cpu_s"] = round(n / cpu, 2)
        out[f"spark_{name}_per_cpu_s_vs_loop"] = round(n / cpu / loop_cpu_rate, 3)
        out[f"spark_{name}_vs_loop"] = round(rate / loop_rate, 3)  # the GPU comparison
    return out


if __name__ == "__main__":
    sys.exit(main())
