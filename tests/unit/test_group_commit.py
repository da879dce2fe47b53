"""``GroupCommit``: writers arriving while one writes share the next write, and each gets its own answer.

The writes here are in memory (a list standing for the events table, a lock
standing for its EXCLUSIVE lock); what is checked is the grouping protocol:
every writer gets exactly its own ids, in the order its items were written,
a group's failure sends each member back alone (a conflicting one gets its
own error, the others their ids), and nobody is left waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from domain.storage.group_commit import GroupCommit


class Table:
    def __init__(self, slow: float = 0.002) -> None:
        self.rows: list[str] = []
        self.lock = threading.Lock()
        self.groups: list[int] = []
        self.alone_after_group: list[bool] = []
        self.slow = slow
        self.entered = threading.Event()
        self.gate: threading.Event | None = None  # when set up, the first write waits for it

    def write(self, items: Sequence[str]) -> list[int]:
        with self.lock:
            self.entered.set()
            if self.gate is not None:
                assert self.gate.wait(30)
                self.gate = None
            time.sleep(self.slow)  # the round trip: others queue meanwhile
            if len(set(items)) != len(items) or set(items) & set(self.rows):
                raise ValueError(f"duplicate in {list(items)}")
            start = len(self.rows)
            self.rows.extend(items)
            self.groups.append(len(items))
            return list(range(start + 1, start + 1 + len(items)))

    def alone(self, items: Sequence[str], after_failed_group: bool) -> list[int]:
        self.alone_after_group.append(after_failed_group)
        return self.write(items)


def test_concurrent_writers_share_writes_and_each_gets_its_own_ids() -> None:
    table = Table()
    group: GroupCommit[str] = GroupCommit(table.write, table.alone)
    answers: dict[str, list[int]] = {}

    def writer(w: int) -> None:
        for i in range(20):
            items = [f"{w}-{i}-a", f"{w}-{i}-b"]
            answers[items[0]] = group.submit(items)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert len(table.rows) == 8 * 20 * 2 and len(answers) == 8 * 20
    for first, ids in answers.items():
        assert [table.rows[i - 1] for i in ids] == [first, first[:-1] + "b"]
    assert max(table.groups) > 2  # some writes carried several commands
    assert sum(table.groups) == len(table.rows) and len(table.groups) < 8 * 20


def test_a_lone_writer_writes_alone_at_once() -> None:
    table = Table(slow=0)
    group: GroupCommit[str] = GroupCommit(table.write, table.alone)
    assert group.submit(["x"]) == [1]
    assert group.submit(["y", "z"]) == [2, 3]
    assert table.groups == [1, 2] and table.alone_after_group == [False, False]


def test_a_failed_group_is_written_again_member_by_member() -> None:
    table = Table(slow=0)
    table.gate = threading.Event()
    table.rows.append("taken")  # one writer will conflict
    group: GroupCommit[str] = GroupCommit(table.write, table.alone)
    results: dict[str, object] = {}

    def writer(name: str) -> None:
        try:
            results[name] = group.submit([name])
        except ValueError as e:
            results[name] = e

    names = ["first", "taken", "b", "c", "d", "e"]
    threads = [threading.Thread(target=writer, args=(n,)) for n in names]
    threads[0].start()
    assert table.entered.wait(10)  # "first" is writing: the others queue behind it, as one group
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 30
    while len(group._queue) < 5 and time.monotonic() < deadline:  # noqa: SLF001 - waiting for the queue
        time.sleep(0.01)
    table.gate.set()
    for t in threads:
        t.join(timeout=60)
    assert isinstance(results["taken"], ValueError)
    for name in names:
        if name != "taken":
            assert table.rows[results[name][0] - 1] == name  # type: ignore[index]
    assert sorted(table.rows) == sorted(["taken", *[n for n in names if n != "taken"]])
    assert table.alone_after_group.count(True) == 5  # the group failed and its members went alone


def test_an_error_reaches_only_its_writer() -> None:
    def boom(items: Sequence[str], _after: bool = False) -> list[int]:
        raise RuntimeError("down")

    group: GroupCommit[str] = GroupCommit(boom, boom)
    with pytest.raises(RuntimeError, match="down"):
        group.submit(["x"])
    table = Table(slow=0)
    group = GroupCommit(table.write, table.alone)
    assert group.submit(["y"]) == [1]  # leadership was handed back
