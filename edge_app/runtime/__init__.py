"""The daemon's moving parts, wired together by ``edge_app.runtime.app``.

``feed`` holds each camera's frames between its capture thread and the inference worker,
``capture`` reads a camera and reconnects it, ``worker`` batches frames across cameras
through the segmenter, ``health`` keeps the figures and decides the watchdog, and
``service`` installs the systemd unit.
"""
