"""The benchmark suite behind ``casetrail bench`` (see docs and bench/README.md).

Modules, one concern each:

- ``roster``: the staff, customers and texts of the synthetic company;
- ``stories``: what happens next to a case of each type (a seeded policy);
- ``datagen``: drives the real ``CaseTrail`` with a fake clock to fill a
  database with a deterministic mix of the five case types (10k-1M events);
- ``baselines``: what the figures are compared with (``pgbench``, the plain
  psycopg insert loop W0, raw ``sqlite3`` inserts, raw reads, scan + msgpack decode);
- ``workloads``: the in-process command workloads (W1, W3, N1) and A1;
- ``writers``: W2, 8 clients over as many processes as cores;
- ``http_load``: W4, the HTTP API (``serve --workers 2``) under 16 concurrent clients;
- ``imports``: I1, bulk import of legacy cases over HTTP;
- ``verify``: V1, ``audit verify`` against a raw scan + SHA-256;
- ``console``: C1, the reviewer console's timeline page;
- ``readmodels``: R1/R2/Q1 when the projections package provides them (and V1
  on the rebuild's large data set in the quick and full runs);
- ``report``: figures, ratios, goals, ``latest.json`` and ``latest.md``;
- ``suite``: runs everything for one mode (smoke, quick, full).
"""
