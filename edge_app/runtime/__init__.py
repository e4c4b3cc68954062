"""The daemon's moving parts, wired together by ``edge_app.runtime.app``.

``capture`` reads a camera into its feed and reconnects it, the stream runner
(``edge_app.pipeline.runner``) batches frames across cameras through the segmenter and
the analytics, ``health`` keeps the figures and decides the watchdog, and ``service``
installs the systemd unit.
"""
