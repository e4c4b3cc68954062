"""What several commands share: the segmenter options of the offline commands, and the
model check of ``check`` and ``run``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_app.config import (
    AppConfig,
    BackgroundSegmenterConfig,
    OnnxSegmenterConfig,
    SegmenterConfig,
)
from edge_app.core.errors import ConfigError

if TYPE_CHECKING:
    pass


def add_segmenter_args(p: argparse.ArgumentParser) -> None:
    """``--config``, ``--segmenter`` and ``--model`` of replay, snapshot and eval."""
    p.add_argument("--config", type=Path, help="take segmenter and analytics settings from here")
    p.add_argument("--segmenter", choices=["background", "onnxruntime"])
    p.add_argument("--model", type=Path, help="ONNX model for --segmenter onnxruntime")


def add_cold_start_args(p: argparse.ArgumentParser) -> None:
    """``--cold-at`` and ``--no-resegment`` of replay and eval."""
    p.add_argument(
        "--cold-at",
        type=int,
        metavar="K",
        help="start the segmenter cold again at frame K (0-based), as after a restart without "
        "its saved scene; eval compares the frames from K on",
    )
    p.add_argument(
        "--no-resegment",
        action="store_true",
        help="keep the provisional masks of the segmenter's warm-up, as the daemon counts them "
        "(marked warming_up), instead of segmenting those frames again once it has learned "
        "the scene",
    )


def cold_start_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``cold_at`` and ``resegment`` arguments of ``--cold-at`` / ``--no-resegment``."""
    if args.cold_at is not None and args.cold_at < 0:
        raise ConfigError("(command line)", "--cold-at", "must be >= 0", "give a frame index")
    return {"cold_at": args.cold_at, "resegment": not args.no_resegment}


def segmenter_for(args: argparse.Namespace, config: AppConfig | None) -> SegmenterConfig:
    """The segmenter the options ask for: ``--segmenter``, else the config's, else
    ``background``; ``--model`` replaces the config's ONNX model."""
    configured = config.segmenter if config else None
    choice = args.segmenter or (configured.type if configured else "background")
    if configured is not None and configured.type == choice:
        if args.model and isinstance(configured, OnnxSegmenterConfig):
            return configured.model_copy(update={"model": args.model.resolve()})
        return configured
    if choice == "background":
        return BackgroundSegmenterConfig()
    if choice == "onnxruntime":
        if not args.model:
            raise ConfigError(
                "(command line)",
                "--model",
                "the onnxruntime segmenter needs a model",
                "give --model FILE.onnx or a --config with segmenter.model",
            )
        return OnnxSegmenterConfig(model=args.model.resolve())
    raise ConfigError(
        "(command line)",
        "--segmenter",
        f"{choice!r} cannot be used offline",
        "use background or onnxruntime",
    )
