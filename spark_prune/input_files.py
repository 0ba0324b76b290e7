"""What identifies an input without a Delta version (Parquet files, DataComp or clip-retrieval
shards, a catalog table without history): a digest of its files' names, sizes and modification
times. Stage checkpoints are keyed by it, so a rerun after files were added, removed or
rewritten does not resume from checkpoints of other files."""

from __future__ import annotations

import hashlib
import logging

from pyarrow import fs as pafs
from pyspark.sql import DataFrame

from spark_prune.config import InputConfig

log = logging.getLogger(__name__)


def files_fingerprint(cfg: InputConfig, frame: DataFrame) -> str:
    """A digest of the input's files: listed with their sizes and modification times where
    pyarrow can list the path, else only the names of the files Spark reads
    (``DataFrame.inputFiles``: ``s3a://``, ``dbfs:/``, catalog tables)."""
    entries = None if cfg.format == "table" else _listing(cfg.path)
    if entries is None:
        entries = sorted(frame.inputFiles())
        if not entries:
            log.warning("input %s lists no files (a view or a non-file table): a rerun after a "
                        "crash resumes only if its checkpoints hold exactly the rows read "
                        "then", cfg.path)  # fmt: skip
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:24]


def _listing(path: str) -> list[str] | None:
    """``path<TAB>size<TAB>mtime`` of every file under ``path``; None where pyarrow has no
    filesystem for it (a Hadoop-only scheme such as ``s3a://`` or ``dbfs:/``)."""
    from spark_prune.formats.shards import hidden, open_fs

    try:
        fs, root = open_fs(path)
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    except Exception as exc:  # listed by Spark instead
        log.info("input %s: listing its files through Spark (%s)", path, type(exc).__name__)
        return None
    prefix = len(root.rstrip("/"))

    def read_by_spark(info: pafs.FileInfo) -> bool:  # no hidden part under the input's root
        parts = info.path[prefix:].strip("/").split("/")
        return info.type == pafs.FileType.File and not any(hidden(part) for part in parts)

    files = (info for info in infos if read_by_spark(info))
    return sorted(f"{info.path}\t{info.size}\t{info.mtime_ns}" for info in files)
