"""``api.threads.in_thread``: blocking work in the thread pool, with what it binds to the log context
carried back to the request's context (the access log line is written there, after the handler)."""

from __future__ import annotations

import asyncio
import threading

import pytest
import structlog

from api.threads import in_thread


def test_the_result_and_the_log_context_come_back() -> None:
    async def main() -> tuple[int, dict[str, object], bool]:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id="r-1")
        loop_thread = threading.get_ident()

        def work() -> int:
            structlog.contextvars.bind_contextvars(actor="agent", case_id="c-1")
            return threading.get_ident()

        worker = await in_thread(work)
        return worker, structlog.contextvars.get_contextvars(), worker != loop_thread

    _, bound, elsewhere = asyncio.run(main())
    assert elsewhere  # it ran in a worker thread
    assert bound == {"request_id": "r-1", "actor": "agent", "case_id": "c-1"}


def test_an_exception_is_raised_and_what_was_bound_before_it_still_comes_back() -> None:
    async def main() -> dict[str, object]:
        structlog.contextvars.clear_contextvars()

        def refused() -> None:
            structlog.contextvars.bind_contextvars(actor="agent")
            raise ValueError("refused")

        with pytest.raises(ValueError, match="refused"):
            await in_thread(refused)
        return structlog.contextvars.get_contextvars()

    assert asyncio.run(main()) == {"actor": "agent"}


def test_arguments_are_passed_on() -> None:
    def join(a: str, b: str, *, sep: str) -> str:
        return f"{a}{sep}{b}"

    assert asyncio.run(in_thread(join, "x", "y", sep="-")) == "x-y"
