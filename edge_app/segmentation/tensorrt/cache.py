"""The TensorRT engine cache: which engine fits this model, this TensorRT and this GPU.

A serialized engine is only valid for the TensorRT version and the GPU that built it, and
for the precision, batch size and input size it was built with. Each engine is written with
a JSON sidecar (``<engine>.json``) holding its ``EngineKey``; an engine is reused only when
the sidecar matches the key wanted now, so an upgrade of JetPack, a different device or a
new model never loads a stale engine. Pure file logic: no TensorRT, no GPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from edge_app.core.atomic import PRIVATE, write_atomic
from edge_app.core.errors import SegmenterError

log = logging.getLogger(__name__)

PRECISIONS = {0: "fp32", 1: "int8", 2: "fp16"}
"""nvinfer's ``network-mode`` numbers to names."""

SIDECAR_FORMAT = 1


@dataclass(frozen=True)
class EngineKey:
    """Everything a built engine depends on.

    ``input_shape`` is one frame's input tensor shape without the batch, in the model's own
    layout (``(3, 512, 512)`` for NCHW PeopleSemSegFormer).
    """

    model_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    multiprocessors: int
    board: str
    precision: str
    batch_size: int
    input_shape: tuple[int, ...]

    def digest(self) -> str:
        """A stable hash of the whole key (hex)."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        return data

    def mismatches(self, stored: dict[str, Any], *, ignore_model: bool = False) -> list[str]:
        """Human-readable differences between a sidecar's key and this one ("" when equal)."""
        found = []
        for f in fields(self):
            if ignore_model and f.name == "model_sha256":
                continue
            want = self.to_json()[f.name]
            have = stored.get(f.name)
            if have != want:
                if f.name == "model_sha256":
                    found.append("the ONNX model changed")
                else:
                    found.append(f"{f.name} {have!r} != {want!r} now")
        return found


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes (hex); ``SegmenterError`` when unreadable."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(chunk_bytes):
                digest.update(chunk)
    except OSError as exc:
        raise SegmenterError(
            f"cannot read the ONNX model {path}: {exc.strerror or exc} (check segmenter.onnx)"
        ) from exc
    return digest.hexdigest()


def sidecar_path(engine: Path) -> Path:
    """Where an engine's key is kept: ``model.engine`` -> ``model.engine.json``."""
    return engine.with_name(engine.name + ".json")


def cache_path(directory: Path, model: Path, key: EngineKey) -> Path:
    """The cache slot of ``key``: readable prefix, then the key's digest."""
    return directory / f"{model.stem}_b{key.batch_size}_{key.precision}_{key.digest()[:16]}.engine"


def read_sidecar(engine: Path) -> dict[str, Any] | None:
    """The stored key of ``engine``, or ``None`` when missing or unreadable (then logged)."""
    path = sidecar_path(engine)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning(
            "engine metadata %s is unreadable (%s); treating the engine as unknown", path, exc
        )
        return None
    key = data.get("key") if isinstance(data, dict) else None
    if not isinstance(key, dict):
        log.warning("engine metadata %s has no key; treating the engine as unknown", path)
        return None
    return key


def stale_reasons(engine: Path, key: EngineKey, *, ignore_model: bool = False) -> list[str]:
    """Why ``engine`` cannot serve ``key``; empty when its sidecar matches.

    An engine without a sidecar (built elsewhere, e.g. by trtexec) is not judged here:
    loading it and checking its tensors decides.
    """
    stored = read_sidecar(engine)
    if stored is None:
        return []
    return key.mismatches(stored, ignore_model=ignore_model)


def store_engine(path: Path, data: bytes, key: EngineKey, *, onnx: Path | None) -> None:
    """Write an engine and its sidecar atomically; ``SegmenterError`` naming the path."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The sidecar goes first: a crash in between leaves a sidecar without an engine
        # (ignored), never an unlabelled engine that a later start would trust blindly.
        meta = {
            "format": SIDECAR_FORMAT,
            "key": key.to_json(),
            "onnx": str(onnx) if onnx else None,
            "bytes": len(data),
        }
        sidecar = json.dumps(meta, indent=2, sort_keys=True) + "\n"
        write_atomic(sidecar_path(path), sidecar, PRIVATE)
        write_atomic(path, data, PRIVATE)
    except OSError as exc:
        raise SegmenterError(
            f"cannot write the engine {path}: {exc.strerror or exc} (check that "
            "segmenter.engine_cache_dir is writable and the disk is not full)"
        ) from exc


def remove_engine(path: Path) -> None:
    """Delete an engine and its sidecar (a corrupt one, before rebuilding)."""
    for p in (path, sidecar_path(path)):
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            raise SegmenterError(f"cannot remove the stale engine {p}: {exc.strerror}") from exc
