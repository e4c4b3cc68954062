"""What several commands share: the segmenter options of the offline commands, and the
model check of ``check`` and ``run``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

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
