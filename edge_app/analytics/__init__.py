"""Pure analytics: person masks and source-clock times in, zone states and events out.

Nothing here reads a clock, a file, a socket or a config file (see ARCHITECTURE.md).
"""

from edge_app.analytics.analyzer import AnalyzerParams, FrameAnalysis, ZoneAnalyzer
from edge_app.analytics.zonestate import ZoneRule

__all__ = ["AnalyzerParams", "FrameAnalysis", "ZoneAnalyzer", "ZoneRule"]
