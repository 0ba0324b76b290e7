"""The demo's sample lakehouse: real clip art from Debian's ``openclipart-png`` as a Delta table.

The package holds 8,121 public-domain PNGs in 22 top-level categories; 1,221 of them are
byte-identical copies of another file (shipped as symlinks), which gives SemDeDup a real ground
truth. The package is unpacked without a system install (``apt-get download`` + ``dpkg -x``).

Captions are **derived from file names** (``tux_penguin_01.png`` in ``animals`` becomes
"a clip art of tux penguin (animals)"): the package has no real captions.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from spark_prune.io import absolute_local_path
from spark_prune.lake import DeltaLocation

log = logging.getLogger(__name__)

PACKAGE = "openclipart-png"
PNG_SUBDIR = Path("usr/share/openclipart/png")
SYSTEM_DIR = Path("/") / PNG_SUBDIR
ROWS_PER_PARTITION = 500

SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType(), False),
        T.StructField("path", T.StringType(), False),
        T.StructField("category", T.StringType(), False),
        T.StructField("caption", T.StringType(), False),
        T.StructField("image", T.BinaryType(), False),
    ]
)


@dataclass(frozen=True)
class ClipArt:
    """One PNG of the package: its stable id, relative path and content hash."""

    id: int
    path: str
    sha256: str

    @property
    def category(self) -> str:
        return self.path.split("/", 1)[0]


def ensure_openclipart(cache_dir: str | Path, system_dir: Path | None = SYSTEM_DIR) -> Path:
    """The directory of openclipart PNGs: the system's, a cached unpack, or a fresh unpack.

    Needs ``apt-get`` and ``dpkg`` (Debian/Ubuntu) only when neither copy exists; no root
    install happens, the .deb is extracted into ``cache_dir/openclipart``.
    """
    if system_dir is not None and _has_pngs(system_dir):
        return system_dir
    target = Path(cache_dir) / "openclipart"
    if _has_pngs(target / PNG_SUBDIR):
        return target / PNG_SUBDIR
    _unpack_package(target)
    return target / PNG_SUBDIR


def _has_pngs(directory: Path) -> bool:
    return directory.is_dir() and next(directory.rglob("*.png"), None) is not None


def _unpack_package(target: Path) -> None:
    """``apt-get download`` the .deb into a temp dir and ``dpkg -x`` it (atomically) to target."""
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise RuntimeError(
                f"{tool} not found: install {PACKAGE} or unpack its .deb so that "
                f"{SYSTEM_DIR} (or <cache>/openclipart/{PNG_SUBDIR}) holds the PNGs"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    # a staging directory per process: concurrent callers (parallel test workers) never share one
    staging = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        log.info("downloading %s with apt-get (about 131 MB) ...", PACKAGE)
        _run(["apt-get", "download", PACKAGE], cwd=tmp)
        debs = sorted(Path(tmp).glob(f"{PACKAGE}_*.deb"))
        if not debs:
            raise RuntimeError(f"apt-get download {PACKAGE} produced no .deb in {tmp}")
        _run(["dpkg", "-x", str(debs[-1]), str(staging)])
    if _has_pngs(target / PNG_SUBDIR):  # another process finished first: keep its copy
        shutil.rmtree(staging, ignore_errors=True)
        return
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _run(command: list[str], cwd: str | None = None) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}"
        )


def list_clipart(root: Path) -> list[ClipArt]:
    """Every PNG under ``root``, sorted by relative path; ``id`` is the index in that order."""
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png") if p.is_file())
    return [ClipArt(i, rel, _sha256(root / rel)) for i, rel in enumerate(paths)]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def caption_for(path: str) -> str:
    """A caption made from the file name (there are no real captions): words + category."""
    stem = Path(path).stem
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)
    words = [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w and not w.isdigit()]
    category = path.split("/", 1)[0].replace("_", " ")
    return f"a clip art of {' '.join(words) or 'something'} ({category})"


def duplicate_groups(items: list[ClipArt]) -> dict[str, list[ClipArt]]:
    """Files grouped by content hash (every group, singletons included), in id order."""
    groups: dict[str, list[ClipArt]] = defaultdict(list)
    for item in items:
        groups[item.sha256].append(item)
    return dict(groups)


def select_sample(items: list[ClipArt], max_images: int, seed: int = 0) -> list[ClipArt]:
    """A deterministic subset of at most ``max_images`` that never splits a duplicate group.

    Groups are visited in an order given by a seeded hash of their content, and a group is
    taken whole when it fits, so duplicates keep roughly their natural share. Sorted by id.
    """
    if max_images <= 0:
        raise ValueError(f"max_images must be positive, got {max_images}")
    groups = duplicate_groups(items)
    order = sorted(groups, key=lambda digest: _seeded_key(digest, seed))
    chosen: list[ClipArt] = []
    for digest in order:
        group = groups[digest]
        if len(chosen) + len(group) <= max_images:
            chosen.extend(group)
        if len(chosen) == max_images:
            break
    return sorted(chosen, key=lambda item: item.id)


def _seeded_key(digest: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{digest}".encode()).hexdigest()


def sample_counts(sample: list[ClipArt]) -> dict[str, int]:
    """rows, categories, duplicate groups (hash shared by >= 2 rows) and the rows beyond one."""
    groups = [g for g in duplicate_groups(sample).values() if len(g) > 1]
    return {
        "rows": len(sample),
        "categories": len({item.category for item in sample}),
        "duplicate_groups": len(groups),
        "duplicate_rows": sum(len(g) for g in groups),
        "redundant_rows": sum(len(g) - 1 for g in groups),
    }


def build_sample_lakehouse(
    spark: SparkSession,
    cache_dir: str | Path,
    out_path: str,
    max_images: int = 3000,
    seed: int = 0,
    *,
    source_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Write the demo's input Delta table and return what it holds.

    Columns: ``id`` (long, the file's index among all PNGs sorted by relative path, so it does
    not depend on the sample), ``path`` (relative), ``category`` (top folder), ``caption``
    (derived from the file name, see the module docstring) and ``image`` (PNG bytes). The
    subset keeps whole byte-identical duplicate groups. A table that already holds the same
    sample is left alone, so reruns read the same Delta version. ``source_dir`` replaces the
    package's PNG directory (any folder of ``<category>/.../*.png``).
    """
    out_path = absolute_local_path(out_path)
    root = Path(source_dir) if source_dir is not None else ensure_openclipart(cache_dir)
    sample = select_sample(list_clipart(root), max_images, seed)
    fingerprint = _fingerprint(sample)
    counts: dict[str, Any] = {**sample_counts(sample), "source": str(root), "path": out_path}
    if _existing_fingerprint(spark, out_path) == fingerprint:
        version = DeltaLocation(out_path).latest_version(spark)
        return {**counts, "written": False, "delta_version": version}
    frame = _sample_frame(root, sample)
    partitions = max(1, len(sample) // ROWS_PER_PARTITION)
    rows = spark.createDataFrame(frame, SCHEMA).repartition(partitions)
    meta = {"spark_prune": "demo sample", "fingerprint": fingerprint}
    version = DeltaLocation(out_path).write(rows, meta)
    return {**counts, "written": True, "delta_version": version}


def _sample_frame(root: Path, sample: list[ClipArt]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [item.id for item in sample],
            "path": [item.path for item in sample],
            "category": [item.category for item in sample],
            "caption": [caption_for(item.path) for item in sample],
            "image": [(root / item.path).read_bytes() for item in sample],
        }
    )


def _fingerprint(sample: list[ClipArt]) -> str:
    lines = "\n".join(f"{item.id}\t{item.path}\t{item.sha256}" for item in sample)
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def _existing_fingerprint(spark: SparkSession, path: str) -> str | None:
    table = DeltaLocation(path)
    if not table.exists(spark):
        return None
    return table.last_user_metadata(spark).get("fingerprint")
