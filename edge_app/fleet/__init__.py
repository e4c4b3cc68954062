"""A chain of stores in one central database (docs/fleet.md).

``collector``: ``edge-app collect``, an MQTT 5 shared-subscription consumer writing every
device's events into PostgreSQL exactly once (acknowledged after commit), with the
visits and occupancy samples derived from them in the device's own schema. ``bridge``:
the mosquitto bridge a store's broker needs (``edge-app bridge-config``). ``report``: the
HTML report of a fleet or of one device (``edge-app report``).
"""
