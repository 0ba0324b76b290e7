"""One batch of rows -> embeddings, with a recorded reason for every row that cannot be embedded.

Pure Python/torch (no Spark): the embedding UDF calls :func:`embed_rows` on each Arrow batch,
tests and the benchmark call it directly. Every model call sees exactly ``batch_size`` rows
(short chunks are padded with blank rows), so a row's embedding does not depend on which rows
share its batch: the output is the same whatever the partitioning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spark_prune.embed.models import LoadedModel
from spark_prune.images import load_rgb


@dataclass
class BatchEmbeddings:
    """Per-row outputs; ``None`` rows in the embeddings are the ones with an ``errors`` entry."""

    image: list[np.ndarray | None] | None
    text: list[np.ndarray | None] | None
    clip_score: list[float | None] | None
    errors: list[str | None]


def embed_rows(
    loaded: LoadedModel,
    images: Sequence[Any] | None,
    texts: Sequence[Any] | None,
    batch_size: int,
    image_kind: str = "bytes",
) -> BatchEmbeddings:
    """Embed ``images`` (bytes or paths) and/or ``texts`` (captions), ``batch_size`` at a time."""
    n = len(images) if images is not None else len(texts or ())
    reasons: list[list[str]] = [[] for _ in range(n)]
    image_emb = text_emb = None
    if images is not None:
        image_emb = _embed_images(loaded, images, batch_size, image_kind, reasons)
    if texts is not None:
        text_emb = _embed_texts(loaded, texts, batch_size, reasons)
    scores = None
    if image_emb is not None and text_emb is not None:
        scores = _clip_scores(image_emb, text_emb)
    errors = ["; ".join(r) if r else None for r in reasons]
    return BatchEmbeddings(image_emb, text_emb, scores, errors)


def _embed_images(
    loaded: LoadedModel, images: Sequence[Any], batch_size: int, kind: str, reasons: list[list[str]]
) -> list[np.ndarray | None]:
    tensors: list[Any] = []
    rows: list[int] = []
    for i, value in enumerate(images):
        tensor, reason = _prepare_image(loaded.preprocess, value, kind)
        if reason is not None:
            reasons[i].append(reason)
        else:
            tensors.append(tensor)
            rows.append(i)
    matrix = _run_padded(loaded, tensors, batch_size, _encode_image_chunk)
    return _scatter(matrix, rows, len(images), "image", reasons)


def _embed_texts(
    loaded: LoadedModel, texts: Sequence[Any], batch_size: int, reasons: list[list[str]]
) -> list[np.ndarray | None]:
    kept: list[str] = []
    rows: list[int] = []
    for i, value in enumerate(texts):
        reason = _text_problem(value)
        if reason is not None:
            reasons[i].append(reason)
        else:
            kept.append(value)
            rows.append(i)
    matrix = _run_padded(loaded, kept, batch_size, _encode_text_chunk)
    return _scatter(matrix, rows, len(texts), "text", reasons)


def _text_problem(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "text: null caption"
    if not isinstance(value, str):
        return f"text: not a string ({type(value).__name__})"
    if not value.strip():
        return "text: empty caption"
    return None


def _prepare_image(preprocess: Any, value: Any, kind: str) -> tuple[Any, str | None]:
    """(CHW tensor, None), or (None, why this row has no image embedding)."""
    rgb, reason = load_rgb(value, kind)
    if reason is not None:
        return None, reason
    try:
        return preprocess(rgb), None
    except Exception as exc:
        return None, f"image: cannot preprocess ({type(exc).__name__})"


def _run_padded(loaded: LoadedModel, items: list[Any], batch_size: int, encode: Any) -> np.ndarray:
    """Encode ``items`` in chunks of exactly ``batch_size`` (the last one padded)."""
    if not items:
        return np.zeros((0, 0), dtype=np.float32)
    out = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        out.append(encode(loaded, chunk, batch_size)[: len(chunk)])
    return np.concatenate(out)


def _encode_image_chunk(loaded: LoadedModel, tensors: list[Any], batch_size: int) -> np.ndarray:
    import torch

    x = torch.stack(tensors)
    if len(tensors) < batch_size:
        pad = x.new_zeros((batch_size - len(tensors), *x.shape[1:]))
        x = torch.cat([x, pad])
    dtype = next(loaded.model.parameters()).dtype
    with torch.inference_mode():
        features = loaded.model.encode_image(x.to(loaded.device, dtype=dtype))
    return _normalised(features)


def _encode_text_chunk(loaded: LoadedModel, texts: list[str], batch_size: int) -> np.ndarray:
    import torch

    tokens = loaded.tokenizer(texts + [""] * (batch_size - len(texts)))
    with torch.inference_mode():
        features = loaded.model.encode_text(tokens.to(loaded.device))
    return _normalised(features)


def _normalised(features: Any) -> np.ndarray:
    """float32 rows divided by their L2 norm (zero or non-finite rows become NaN)."""
    matrix = features.float().cpu().numpy()
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (matrix / norms).astype(np.float32, copy=False)


def _scatter(
    matrix: np.ndarray, rows: list[int], n: int, tower: str, reasons: list[list[str]]
) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = [None] * n
    for vector, i in zip(matrix, rows, strict=True):
        if np.isfinite(vector).all():
            out[i] = vector
        else:
            reasons[i].append(f"{tower}: embedding has zero norm or non-finite values")
    return out


def _clip_scores(
    image: list[np.ndarray | None], text: list[np.ndarray | None]
) -> list[float | None]:
    """Cosine of the two L2-normalised embeddings, where both exist."""
    return [
        float(np.dot(a, b)) if a is not None and b is not None else None
        for a, b in zip(image, text, strict=True)
    ]
