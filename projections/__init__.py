"""Read models fed by the event log, and the workers that keep them current.

``case_state`` (case lists), ``staff_performance`` (staff KPIs, department
reports; definitions in ``kpi``) and ``audit_history`` (the global audit
log) are projections on the eventsourcing library's tracking recorders
(``views``): rows and tracking position commit together. ``runner`` feeds
them (polling on SQLite, LISTEN/NOTIFY on PostgreSQL), ``maintenance``
rebuilds them into new versioned tables and reports their lag, ``sla`` is
the deadline monitor, ``workers`` runs it all in a server process and
``queries`` is what the API reads.
"""
