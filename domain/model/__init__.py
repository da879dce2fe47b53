"""The pure model: the ``Case`` aggregate and the case-type language, the business calendar,
clocks, approvals, roles, staff, numbering and idempotency records.

No I/O beyond reading the case-type files shipped beside it, and nothing
imported from the rest of the project (checked by import-linter).
"""
