"""Fashion-MNIST (Debian ``dataset-fashion-mnist``, MIT) as a labelled embedding table.

70,000 28×28 grey images in 10 balanced classes, shipped as gzip IDX files. The package is
unpacked without a system install (``apt-get download`` + ``dpkg -x``, as the demo's clip art).

**The embedding is a documented fixture, not a model**: a 64-component PCA of the pixels
(pixels scaled to [0, 1], mean-centred; the basis is the top right-singular vectors of a numpy
SVD of the first ``fit_rows`` training images; each component's sign is fixed so that its
largest-magnitude loading is positive). It makes ``spark-prune evaluate`` testable on real,
labelled data; a real pipeline gets its embeddings from the embed stage.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from spark_prune.demo.clipart import unpack_deb
from spark_prune.io import absolute_local_path
from spark_prune.lake import DeltaLocation

PACKAGE = "dataset-fashion-mnist"
DATA_SUBDIR = Path("usr/share/datasets/fashion-mnist")
SYSTEM_DIR = Path("/") / DATA_SUBDIR
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
COMPONENTS = 64
FIT_ROWS = 10_000
ROWS_PER_PARTITION = 2_000
TRAIN_ROWS = 60_000  # images in the training split

SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType(), False),
        T.StructField("label", T.IntegerType(), False),
        T.StructField("class_name", T.StringType(), False),
        T.StructField("image_emb", T.ArrayType(T.FloatType(), False), False),
    ]
)


def ensure_fashion_mnist(cache_dir: str | Path, system_dir: Path | None = SYSTEM_DIR) -> Path:
    """The directory of the IDX files: the system's, a cached unpack, or a fresh unpack."""
    if system_dir is not None and _complete(system_dir):
        return system_dir
    target = Path(cache_dir) / "fashion-mnist"
    if not _complete(target / DATA_SUBDIR):
        unpack_deb(PACKAGE, target, "about 31 MB", f"{SYSTEM_DIR} (or <cache>/fashion-mnist)")
    return target / DATA_SUBDIR


def _complete(directory: Path) -> bool:
    return all((directory / name).is_file() for pair in FILES.values() for name in pair)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip): unsigned bytes with the dimensions in its header."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(directory: Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(pixels as (n, 784) uint8, labels as (n,) uint8) of ``train`` (60,000) or ``test``."""
    if split not in FILES:
        raise ValueError(f"split must be one of {', '.join(FILES)}, got {split!r}")
    images, labels = (read_idx(directory / name) for name in FILES[split])
    return images.reshape(images.shape[0], -1), labels


def pca_basis(
    pixels: np.ndarray, components: int = COMPONENTS, fit_rows: int = FIT_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """(mean (784,), basis (components, 784)) from an SVD of the first ``fit_rows`` rows."""
    x = pixels[:fit_rows].astype(np.float64) / 255.0
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    basis = vt[:components]
    signs = np.sign(basis[np.arange(len(basis)), np.abs(basis).argmax(axis=1)])
    return mean, basis * signs[:, None]


def embed_pixels(pixels: np.ndarray, mean: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """PCA coordinates (float32) of ``pixels`` in the basis of :func:`pca_basis`."""
    return ((pixels.astype(np.float64) / 255.0 - mean) @ basis.T).astype(np.float32)


def build_fashion_mnist_table(
    spark: SparkSession,
    cache_dir: str | Path,
    out_path: str,
    rows: int = 3_000,
    components: int = COMPONENTS,
) -> dict[str, Any]:
    """Write the first ``rows`` training images as ``id, label, class_name, image_emb`` (the
    PCA fixture) to a Delta table; a table already holding the same rows is left alone."""
    if not 1 <= rows <= TRAIN_ROWS:
        raise ValueError(f"rows must be in [1, {TRAIN_ROWS}], got {rows}")
    out_path = absolute_local_path(out_path)
    pixels, labels = load_split(ensure_fashion_mnist(cache_dir), "train")
    mean, basis = pca_basis(pixels, components)
    emb = embed_pixels(pixels[:rows], mean, basis)
    fingerprint = hashlib.sha256(emb.tobytes() + labels[:rows].tobytes()).hexdigest()[:16]
    info: dict[str, Any] = {"rows": rows, "components": components, "path": out_path}
    table = DeltaLocation(out_path)
    if table.exists(spark) and table.last_user_metadata(spark).get("fingerprint") == fingerprint:
        return {**info, "written": False, "delta_version": table.latest_version(spark)}
    frame = pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "label": labels[:rows].astype(np.int32),
            "class_name": [CLASSES[i] for i in labels[:rows]],
            "image_emb": list(emb),
        }
    )
    df = spark.createDataFrame(frame, SCHEMA).repartition(max(1, rows // ROWS_PER_PARTITION))
    version = table.write(df, {"spark_prune": "fashion-mnist", "fingerprint": fingerprint})
    return {**info, "written": True, "delta_version": version}


def main(argv: list[str] | None = None) -> int:
    """``python -m spark_prune.demo.fashion_mnist --rows N --out PATH``: write the fixture table."""
    import argparse
    import json

    from spark_prune.session import get_spark

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--out", default="data/lakehouse/fashion_mnist")
    parser.add_argument("--cache", default="data/cache", help="where the package is unpacked")
    args = parser.parse_args(argv)
    if not 1 <= args.rows <= TRAIN_ROWS:  # a usage error, before Spark starts
        parser.error(f"--rows {args.rows}: the training split has 1 to {TRAIN_ROWS} rows")
    info = build_fashion_mnist_table(get_spark(), args.cache, args.out, rows=args.rows)
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
