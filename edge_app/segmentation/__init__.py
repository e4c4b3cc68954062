"""Person segmentation backends behind one ``Segmenter`` protocol.

``create_segmenter(config)`` picks the backend from the config's ``type``. Native runtimes
(onnxruntime, tensorrt, pycuda) are imported inside their backend module only.
"""

from edge_app.segmentation.base import (
    LearningSegmenter,
    PerCameraSegmenter,
    Segmenter,
    TwoStageSegmenter,
    create_segmenter,
    stretched_input_size,
)

__all__ = [
    "LearningSegmenter",
    "PerCameraSegmenter",
    "Segmenter",
    "TwoStageSegmenter",
    "create_segmenter",
    "stretched_input_size",
]
