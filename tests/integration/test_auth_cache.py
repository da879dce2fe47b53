"""Authentication reuses what it resolved while nothing changed, and sees every change at once.

``CaseTrail.authenticate`` keeps the actor a token resolved to (``domain.authcache``);
a second request with the token loads neither the token nor the staff member.
Another application on the same database (another process) revoking the token,
deactivating the member or changing their roles is seen by the very next
request, and so is the token's expiry by the server clock — on both databases.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.application import CaseTrail
from domain.model.errors import AuthenticationFailed, TokenExpired
from tests.support import START


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> Any:
        return self.now


@pytest.fixture
def apps(database_url: str) -> Any:
    clock = Clock()
    api = CaseTrail.from_url(database_url, clock=clock)
    other = CaseTrail.from_url(database_url, clock=clock)  # another process: the CLI, another worker
    api.register_staff("zhang", "张三", "cs", ["agent"])
    yield api, other, clock
    api.close()
    other.close()


def loads_counted(app: CaseTrail) -> list[Any]:
    seen: list[Any] = []
    original = app.load

    def counting(aggregate_id: Any, version: int | None = None) -> Any:
        seen.append(aggregate_id)
        return original(aggregate_id, version)

    app.load = counting  # type: ignore[method-assign]
    return seen


def test_an_unchanged_token_resolves_without_loading_anything(apps: Any) -> None:
    api, _other, _clock = apps
    token = api.issue_token("zhang")
    assert api.authenticate(token).id == "zhang"
    seen = loads_counted(api)
    for _ in range(3):
        assert list(api.authenticate(token).roles) == ["agent"]
    assert seen == []


def test_a_revocation_elsewhere_is_seen_by_the_next_request(apps: Any) -> None:
    api, other, _clock = apps
    token = api.issue_token("zhang")
    api.authenticate(token)
    other.revoke_token(token)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        api.authenticate(token)


def test_deactivation_and_role_changes_elsewhere_are_seen_at_once(apps: Any) -> None:
    api, other, _clock = apps
    token = api.issue_token("zhang")
    assert list(api.authenticate(token).roles) == ["agent"]
    other.update_staff("zhang", roles=["agent", "supervisor"])
    assert sorted(api.authenticate(token).roles) == ["agent", "supervisor"]
    other.deactivate_staff("zhang")
    with pytest.raises(AuthenticationFailed, match="not active"):
        api.authenticate(token)


def test_an_expired_token_is_refused_though_it_was_resolved_before(apps: Any) -> None:
    api, _other, clock = apps
    token = api.issue_token("zhang", ttl=timedelta(hours=1))
    api.authenticate(token)
    clock.now += timedelta(hours=1, seconds=1)
    with pytest.raises(TokenExpired):
        api.authenticate(token)
