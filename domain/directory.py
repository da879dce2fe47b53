"""Who holds a role for a department, now: the person an escalation reaches.

An escalation is addressed to a role *and* to the person who holds it for the
case's department, resolved at the moment it is recorded (CASE-TYPES.md,
"Escalations reach a person"). ``StaffDirectory`` answers that from the
staff events in the application's log: it reads the ``Staff`` events it has
not seen yet (one query filtered by topic) and reloads those staff members,
so it is as current as the log when asked. ``holder(role, department)``:
the first (by staff id) active member of the department holding the role;
for another role than ``dept_head`` with nobody in the department (a general
manager), the first active holder anywhere; None when nobody holds it.
``members()`` lists everyone as ``Staff.view()`` shows them (id, name,
department, roles, active; never tokens), ordered by staff id: the staff
listing of the API (``api/staff.py``).
"""

from __future__ import annotations

import threading
from typing import Any

from domain.model.staff import Staff
from domain.model.topics import topics

# with the topics they were stored under before the domain became packages
TOPICS = [t for cls in (Staff.Registered, Staff.Updated, Staff.Deactivated) for t in topics(cls)]  # type: ignore[attr-defined]
PAGE = 1000


class StaffDirectory:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.position = 0
        self.staff: dict[str, tuple[str, tuple[str, ...], bool]] = {}  # id -> (department, roles, active)
        self.views: dict[str, dict[str, Any]] = {}  # id -> Staff.view()
        self._lock = threading.Lock()

    def refresh(self) -> None:
        with self._lock:
            while True:
                page = self.app.recorder.select_notifications(self.position + 1, PAGE, topics=TOPICS)
                for n in page:
                    staff = self.app.load(n.originator_id)
                    self.staff[staff.staff_id] = (staff.department, tuple(staff.roles), staff.active)
                    self.views[staff.staff_id] = staff.view()
                    self.position = max(self.position, n.id)
                if len(page) < PAGE:
                    return

    def holder(self, role: str, department: str) -> str | None:
        self.refresh()
        holders = sorted(s for s, (_d, roles, active) in self.staff.items() if active and role in roles)
        local = [s for s in holders if self.staff[s][0] == department]
        if role == "dept_head":  # the head *of that department*, or nobody
            return local[0] if local else None
        return (local or holders or [None])[0]

    def members(self) -> list[dict[str, Any]]:
        """Every staff member (``Staff.view()``), by staff id."""
        self.refresh()
        with self._lock:
            return [dict(self.views[s], roles=list(self.views[s]["roles"])) for s in sorted(self.views)]
