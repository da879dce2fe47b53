"""Reading the read models: ``ReadModels``, what the API's list and report endpoints call.

Constructed from a database URL (its own connection pool); every query
goes to the version ``rm_active`` names (looked up at most once a second;
an old version is kept for one more rebuild, so a reader holding it is
safe). Lists are keyset-paginated with opaque cursors (a bad one is a
ValueError with a clear message). ``wait_for(position)`` blocks, with the
library's tracking-recorder ``wait``, until the read models have processed
that notification position.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from domain.model.calendar import load_calendar
from domain.model.registry import CaseTypeRegistry
from projections.audit_history import audit_events as _audit_events
from projections.case_state import list_cases as _list_cases
from projections.catalog import PROJECTIONS, resolve
from projections.events import canon, parse_time
from projections.staff_performance import department_report as _department_report
from projections.staff_performance import staff_report
from projections.views import APP_NAME, ReadModelView, Store

COMPLAINT = "complaint"  # the department report is about complaints (001 B§10)
MAX_LIMIT = 500
POINTER_TTL = 1.0
PERIODS = ("day", "week", "month")


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return limit


def _day(value: str | date, name: str) -> str:
    try:
        if isinstance(value, datetime):
            raise ValueError
        return value.isoformat() if isinstance(value, date) else date.fromisoformat(value).isoformat()
    except (ValueError, TypeError):
        raise ValueError(f"{name} must be a date YYYY-MM-DD, got {str(value)[:40]!r}") from None


class ReadModels:
    def __init__(self, url: str | None = None, *, store: Store | None = None) -> None:
        if (url is None) == (store is None):
            raise TypeError("give a database URL or a store")
        self.store = store or Store.for_url(url)  # type: ignore[arg-type]
        self.zone = load_calendar().zone
        self.report_targets = dict(CaseTypeRegistry.from_env().get(COMPLAINT).report_targets)
        self._views: dict[tuple[str, int], ReadModelView] = {}
        self._pointers: dict[str, int] = {}
        self._checked = 0.0
        self._lock = threading.Lock()

    @classmethod
    def for_app(cls, app: Any) -> ReadModels:
        """Read models of ``app``'s database, sharing its connection pool."""
        models = cls(store=Store.for_app(app))
        models.zone = app.calendar.zone
        models.report_targets = dict(app.registry.get(COMPLAINT).report_targets)
        return models

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------ versions
    def view(self, name: str) -> ReadModelView:
        """The active version of read model ``name`` (its tables created if missing)."""
        with self._lock:
            if time.monotonic() - self._checked > POINTER_TTL or name not in self._pointers:
                self._pointers = {n: v for n, (v, _) in self.store.pointers().items()}
                self._checked = time.monotonic()
            version = self._pointers.get(name)
            if version is None:
                version = self._pointers[name] = self.store.claim_initial(name)
            key = (name, version)
            view = self._views.get(key)
            if view is None:
                view = self._views[key] = self.store.view(name, version, PROJECTIONS[name].tables)
            return view

    def positions(self) -> dict[str, int]:
        """name -> notification position the active version has processed."""
        return {name: self.view(name).position() for name in PROJECTIONS}

    def wait_for(self, position: int, timeout: float, names: Iterable[str] | None = None) -> bool:
        """Wait until the read models (default all) reached ``position``; False on time-out."""
        deadline = time.monotonic() + max(0.0, timeout)
        for name in resolve(names):
            try:
                self.view(name).wait(APP_NAME, position, timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return False
        return True

    # ------------------------------------------------------------- queries
    def list_cases(self, *, type: Any = None, status: Any = None, assignee: Any = None,
                   department: Any = None, customer_id: str | None = None, overdue: bool | None = None,
                   opened_from: Any = None, opened_to: Any = None, now: datetime, limit: int = 50,
                   cursor: str | None = None, escalated_to: str | None = None, q: str | None = None,
                   sort: str | None = None, phone_hash: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of cases; ``opened_from`` <= opened_at < ``opened_to`` (dates are local midnights);
        a list filter matches any of its values; ``phone_hash`` the customer's keyed phone hash."""
        view = self.view("case_state")
        return _list_cases(
            view.read, view.tables["case_state"], now=now, type=type, status=status, assignee=assignee,
            department=department, customer_id=customer_id, overdue=overdue,
            opened_from=self._time(opened_from, "opened_from"), opened_to=self._time(opened_to, "opened_to"),
            limit=_limit(limit), cursor=cursor, escalated_to=escalated_to,
            escalations_table=view.tables["case_escalated"], q=q, sort=sort, phone_hash=phone_hash,
            phones_table=view.tables["case_phone"])

    def staff_performance(self, staff_id: str, date_from: str | date, date_to: str | date,
                          by: str | None = None) -> dict[str, Any]:
        """KPIs of ``staff_id`` over the days ``date_from``..``date_to`` (inclusive)."""
        start, end = _day(date_from, "from"), _day(date_to, "to")
        if end < start:
            raise ValueError(f"to ({end}) is before from ({start})")
        if by is not None and by not in PERIODS:
            raise ValueError(f"by must be one of {list(PERIODS)}")
        view = self.view("staff_performance")
        return staff_report(view.read, dict(view.tables), staff_id, start, end, by)

    def department_report(self, department: str, month: str) -> dict[str, Any]:
        """The monthly complaint report of ``department`` (``month`` is ``YYYY-MM``)."""
        try:
            if not (isinstance(month, str) and len(month) == 7):
                raise ValueError
            date.fromisoformat(month + "-01")
        except ValueError:
            raise ValueError(f"month must be YYYY-MM, got {str(month)[:40]!r}") from None
        view = self.view("staff_performance")
        return _department_report(view.read, view.tables["dept_monthly"], department, month,
                                  self.report_targets)

    def audit_events(self, *, actor: str | None = None, case_id: str | None = None, time_from: Any = None,
                     time_to: Any = None, limit: int = 50,
                     cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the audit log in time order; ``time_from`` <= occurred_at < ``time_to``."""
        view = self.view("audit_history")
        return _audit_events(view.read, view.tables["audit_events"], actor=actor, case_id=case_id,
                             time_from=self._time(time_from, "from"), time_to=self._time(time_to, "to"),
                             limit=_limit(limit), cursor=cursor)

    def _time(self, value: Any, name: str) -> str | None:
        if value is None:
            return None
        try:
            return canon(parse_time(value, self.zone))
        except (ValueError, TypeError, OverflowError) as e:
            raise ValueError(f"{name}: {e}") from None
