"""Schema migrations of the event store (alembic scripts, run by ``edge_app.sinks.migrate``).

No ``alembic.ini`` is needed: the store runs them programmatically at start. To add one,
copy the latest script in ``versions/``, give it the next revision id and set
``down_revision`` to the previous one; update ``edge_app/sinks/schema.py`` to match.
"""
