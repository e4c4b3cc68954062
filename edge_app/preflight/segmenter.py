"""The segmenter's files: the ONNX model, TensorRT engine and calibration data, and a
DeepStream nvinfer config with the model files it names. No model is loaded."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from edge_app.config import OnnxSegmenterConfig, TensorRTSegmenterConfig
from edge_app.core.errors import ConfigError
from edge_app.preflight.base import LoadedConfig, file_problems, unreadable

_RELATIVE = "a relative path starts at the config file's folder"


def _tensorrt_files(
    cfg: TensorRTSegmenterConfig,
    problem: Callable[[str, str, str], ConfigError],
    relative: str = _RELATIVE,
) -> list[ConfigError]:
    """The model files a TensorRT segmenter needs before it can build or load an engine;
    ``problem(field, text, fix)`` names where each setting came from, ``relative`` says
    where its relative paths start."""
    problems: list[ConfigError] = []
    if cfg.onnx is not None:
        why = unreadable(cfg.onnx, "ONNX model")
        if why is not None:
            problems.append(problem("onnx", why, f"give the .onnx file; {relative}"))
    elif cfg.engine is not None:
        # Without an ONNX model the engine cannot be rebuilt, so it must be there.
        why = unreadable(cfg.engine, "engine")
        if why is not None:
            problems.append(
                problem("engine", why, "give the serialized engine, or the onnx model to build it")
            )
    if cfg.network_mode == 1 and cfg.calibration_dir is not None:
        cache = cfg.calibration_cache
        if (cache is None or not cache.is_file()) and not cfg.calibration_dir.is_dir():
            problems.append(
                problem(
                    "calibration_dir",
                    f"calibration folder {cfg.calibration_dir} does not exist",
                    "give a folder of JPEG/PNG frames from this store's cameras",
                )
            )
    return problems


def check_segmenter(loaded: LoadedConfig) -> list[ConfigError]:
    """The model files given in the config itself, and ONNX Runtime being installed for
    the ``onnxruntime`` segmenter."""
    seg = loaded.config.segmenter
    if isinstance(seg, OnnxSegmenterConfig):
        problems = file_problems(
            loaded,
            "segmenter.model",
            seg.model,
            "ONNX model",
            f"set segmenter.model to the .onnx file; {_RELATIVE}",
        )
        if importlib.util.find_spec("onnxruntime") is None:
            problems.append(
                loaded.problem(
                    "segmenter.type",
                    "the onnxruntime segmenter needs the onnxruntime package, which is not "
                    "installed",
                    "pip install 'edge-app[onnx]', or use type: background",
                )
            )
        return problems
    if isinstance(seg, TensorRTSegmenterConfig) and seg.nvinfer_config is None:
        return _tensorrt_files(
            seg, lambda field, text, fix: loaded.problem(f"segmenter.{field}", text, fix)
        )
    return []


_NVINFER_KEY = {"onnx": "onnx-file", "engine": "model-engine-file"}


def check_nvinfer(loaded: LoadedConfig) -> list[ConfigError]:
    """A DeepStream nvinfer config, read as the daemon reads it (with its labels file),
    and the model files it names."""
    seg = loaded.config.segmenter
    if not isinstance(seg, TensorRTSegmenterConfig) or seg.nvinfer_config is None:
        return []
    from edge_app.segmentation.tensorrt.nvinfer_resolve import resolve_model

    source = seg.nvinfer_config
    try:
        resolved = resolve_model(seg).config
    except ConfigError as exc:
        if exc.file == str(source) and exc.field is None:
            # The file as a whole: say which setting of the config named it.
            return [loaded.problem("segmenter.nvinfer_config", f"{source}: {exc.problem}", exc.fix)]
        return list(exc.problems)

    def problem(field: str, text: str, fix: str) -> ConfigError:
        if field in _NVINFER_KEY:
            return ConfigError(str(source), _NVINFER_KEY[field], text, fix)
        return loaded.problem(f"segmenter.{field}", text, fix)

    return _tensorrt_files(resolved, problem, "a relative path starts at the nvinfer file's folder")
