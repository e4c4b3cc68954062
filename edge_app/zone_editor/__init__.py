"""The zone editor: draw a camera's zones on its own picture in a browser.

``edge-app zones edit`` grabs a frame, serves a small local page (``server``) where an
installer draws and names zones, and saves them through the same validation as
``edge-app check`` (``session``) into the zone file (``edge_app.config.zone_io``). A live preview
(``preview``) shows the configured segmenter's mask and per-zone counts on recent frames.
"""
