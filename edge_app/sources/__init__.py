"""Frame sources behind one ``Source`` protocol (file, synthetic, rtsp, usb, gstreamer)."""

from edge_app.sources.base import Source, create_source

__all__ = ["Source", "create_source"]
