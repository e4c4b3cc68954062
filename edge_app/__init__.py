"""edge-app: a retail-analytics edge daemon.

Cameras in, people segmented per frame, zone occupancy and dwell computed, events out over
MQTT and into SQLite.
"""

__version__ = "0.1.0"
