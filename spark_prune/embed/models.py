"""open_clip model loading, cached once per Python process (driver or Spark Python worker).

``load_model`` is called inside the embedding UDF for every batch; the module-level cache makes
that a dictionary lookup after the first call in each Python worker, so a worker that runs many
tasks (``spark.python.worker.reuse``, the default) loads the model once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from spark_prune.config import EmbedConfig

log = logging.getLogger(__name__)

LOAD_LOG_ENV = "SPARK_PRUNE_EMBED_LOAD_LOG"
"""When set to a directory, every real model load touches one file in it (tests count them)."""

MAX_CACHED_MODELS = 2
_CACHE: OrderedDict[tuple[Any, ...], LoadedModel] = OrderedDict()
_LOCK = threading.Lock()
_REGISTERED_CONFIGS: set[Path] = set()
_CONFIG_LOCK = threading.Lock()


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference and what is needed to feed it."""

    model: Any  # open_clip CLIP / CustomTextCLIP, eval mode, on ``device``
    preprocess: Any  # PIL image -> CHW float tensor
    tokenizer: Any  # list[str] -> LongTensor (batch, context_length)
    device: Any  # torch.device
    precision: str  # effective: fp32 on CPU whatever was asked

    def __iter__(self) -> Any:  # unpacks as (model, preprocess, tokenizer)
        return iter((self.model, self.preprocess, self.tokenizer))


def load_model(
    cfg: EmbedConfig, device: str | None = None, *, load_log: str | None = None
) -> LoadedModel:
    """The model for ``cfg`` on ``device`` (default ``cfg.device``), loaded once per process.

    Unpacks as ``model, preprocess, tokenizer``. ``device``: ``auto`` = the GPU Spark assigned
    to the current task (``TaskContext.resources()['gpu']``), any CUDA device otherwise, else CPU.
    fp16/bf16 on CPU fall back to fp32 with a logged warning.
    """
    dev = resolve_device(device or cfg.device)
    precision = resolve_precision(cfg.precision, dev.type)
    key = (
        cfg.model,
        cfg.model_config,
        cfg.pretrained,
        cfg.checkpoint,
        str(dev),
        precision,
        image_mean(cfg),
        image_std(cfg),
    )
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        loaded = _load(cfg, dev, precision)
        _record_load(load_log if load_log is not None else os.environ.get(LOAD_LOG_ENV))
        _CACHE[key] = loaded
        while len(_CACHE) > MAX_CACHED_MODELS:
            _CACHE.popitem(last=False)
        return loaded


def _load(cfg: EmbedConfig, device: Any, precision: str) -> LoadedModel:
    import open_clip
    import torch

    weights = _weights_argument(cfg)
    register_model_config(cfg)
    log.info(
        "loading open_clip %s (%s) on %s, %s (pid %d)",
        cfg.model,
        weights,
        device,
        precision,
        os.getpid(),
    )
    model, _, preprocess = open_clip.create_model_and_transforms(
        cfg.model,
        pretrained=weights,
        precision=precision,
        device=device,
        image_mean=image_mean(cfg),
        image_std=image_std(cfg),
    )
    model.eval()
    torch.backends.cudnn.benchmark = False  # same kernels for every batch: reproducible output
    torch.backends.cudnn.deterministic = True
    tokenizer = open_clip.get_tokenizer(cfg.model)
    return LoadedModel(model, preprocess, tokenizer, device, precision)


def _weights_argument(cfg: EmbedConfig) -> str | None:
    weights = cfg.checkpoint or cfg.pretrained
    if weights is None and not cfg.model.startswith(("hf-hub:", "local-dir:")):
        raise ValueError(
            f"embed.model {cfg.model!r}: set embed.pretrained (an open_clip tag) or "
            "embed.checkpoint (a local .pt path); random weights are never used"
        )
    if cfg.checkpoint is not None and not Path(cfg.checkpoint).is_file():
        raise FileNotFoundError(
            f"embed.checkpoint {cfg.checkpoint!r} is not a local file "
            "(copy it to local disk, a /dbfs/ or /Volumes/ path)"
        )
    return weights


def _record_load(directory: str | None) -> None:
    if not directory:
        return
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"load-{os.getpid()}-{uuid.uuid4().hex[:8]}").touch()


def register_model_config(cfg: EmbedConfig) -> None:
    """Register ``embed.model_config`` (an open_clip model-config JSON) with open_clip, once.

    open_clip looks model names up in its registry of config files; a model it does not ship is
    named by such a file. Called in every process before ``open_clip`` reads the model's config.
    """
    if cfg.model_config is None:
        return
    path = Path(cfg.model_config).resolve()
    with _CONFIG_LOCK:
        if path in _REGISTERED_CONFIGS:
            return
        _check_model_config(cfg.model_config, path)
        import open_clip

        open_clip.add_model_config(path)
        _REGISTERED_CONFIGS.add(path)


def _check_model_config(name: str, path: Path) -> None:
    """A readable JSON object with open_clip's three keys (open_clip skips anything else)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"embed.model_config {name!r} is not a local file "
            "(copy it to local disk, a /dbfs/ or /Volumes/ path)"
        )
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"embed.model_config {name!r}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= doc.keys():
        raise ValueError(
            f"embed.model_config {name!r}: not an open_clip model config "
            "(needs embed_dim, vision_cfg and text_cfg)"
        )


def resolve_device(requested: str) -> Any:
    """``cpu``, ``cuda`` or ``auto`` as a ``torch.device``; the task's GPU when Spark gave one."""
    import torch

    if requested == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        if requested == "cuda":
            raise RuntimeError("embed.device is 'cuda' but no CUDA device is visible")
        return torch.device("cpu")
    address = task_gpu_address()
    return torch.device(f"cuda:{address}" if address is not None else "cuda")


def task_gpu_address() -> str | None:
    """The first GPU address Spark assigned to the running task (None outside a GPU task)."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return None
    ctx = TaskContext.get()
    if ctx is None:
        return None
    gpu = ctx.resources().get("gpu")
    return gpu.addresses[0] if gpu is not None and gpu.addresses else None


def resolve_precision(requested: str, device_type: str) -> str:
    """fp16/bf16 only on GPU; on CPU fall back to fp32 with a warning."""
    if requested != "fp32" and device_type != "cuda":
        log.warning(
            "embed.precision=%s needs a GPU; running on %s in fp32 instead", requested, device_type
        )
        return "fp32"
    return requested


def image_mean(cfg: EmbedConfig) -> tuple[float, ...] | None:
    return None if cfg.image_mean is None else tuple(float(v) for v in cfg.image_mean)


def image_std(cfg: EmbedConfig) -> tuple[float, ...] | None:
    return None if cfg.image_std is None else tuple(float(v) for v in cfg.image_std)


def model_info(cfg: EmbedConfig, device_type: str | None = None) -> dict[str, Any]:
    """Provenance for the manifest; reads configs and hashes the checkpoint, loads no weights.

    ``device_type`` (``cpu``/``cuda``): where the executors will run, as far as the driver knows
    (default: ``cfg.device``, ``auto`` meaning CUDA when the driver sees a GPU).
    """
    import open_clip
    import torch

    register_model_config(cfg)
    if device_type is None:
        auto_cuda = cfg.device == "auto" and torch.cuda.is_available()
        device_type = "cuda" if cfg.device == "cuda" or auto_cuda else "cpu"
    return {
        "model": cfg.model,
        "pretrained": cfg.pretrained,
        "checkpoint": cfg.checkpoint,
        "checkpoint_sha256": file_sha256(cfg.checkpoint) if cfg.checkpoint else None,
        "model_config": cfg.model_config,
        "device": device_type,
        "precision_requested": cfg.precision,
        "precision": resolve_precision(cfg.precision, device_type),
        "embed_dim": _model_config(cfg).get("embed_dim"),
        "preprocessing": preprocessing_info(cfg),
        "versions": {
            "torch": torch.__version__,
            "open_clip": open_clip.__version__,
            **_optional_versions(),
        },
    }


def preprocessing_info(cfg: EmbedConfig) -> dict[str, Any]:
    """Image size, mean/std, interpolation and resize mode open_clip will use for ``cfg``."""
    import open_clip

    vision = _model_config(cfg).get("vision_cfg", {})
    tag = open_clip.get_pretrained_cfg(cfg.model, cfg.pretrained) if cfg.pretrained else {}
    default_mean: Sequence[float] = tag.get("mean") or open_clip.OPENAI_DATASET_MEAN
    default_std: Sequence[float] = tag.get("std") or open_clip.OPENAI_DATASET_STD
    return {
        "image_size": vision.get("image_size"),
        "mean": list(image_mean(cfg) or default_mean),
        "std": list(image_std(cfg) or default_std),
        "interpolation": tag.get("interpolation", "bicubic"),
        "resize_mode": tag.get("resize_mode", "shortest"),
    }


def _model_config(cfg: EmbedConfig) -> dict[str, Any]:
    import open_clip

    return open_clip.get_model_config(cfg.model) or {}


def _optional_versions() -> dict[str, str | None]:
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in ("timm", "transformers", "pillow"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def file_sha256(path: str) -> str | None:
    """sha256 of a local file (None when the driver cannot read it), cached by size and mtime."""
    try:
        stat = Path(path).stat()
    except OSError:
        log.warning("cannot hash checkpoint %s on the driver", path)
        return None
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
