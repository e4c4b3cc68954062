"""Pure analytics: person masks and source-clock times in, zone states and events out.

Nothing here reads a clock, a file, a socket or a config file (see ARCHITECTURE.md).
"""

from edge_app.analytics.analyzer import FrameAnalysis, ZoneAnalyzer
from edge_app.analytics.zonestate import ZoneRule
from edge_app.core.tuning import AnalyzerParams

__all__ = ["AnalyzerParams", "FrameAnalysis", "ZoneAnalyzer", "ZoneRule"]
