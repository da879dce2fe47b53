"""Webhook subscription rules without I/O: the request check, the deny list, signatures, pinning."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from domain.model.errors import InvalidFields
from domain.model.webhooks import EVENT_TYPES, check_subscription
from domain.webhooks import DeniedAddress, check_destination, denied, deny_networks
from projections.webhook_dispatch import Settings, pinned, signature

SECRET = "0123456789abcdef"


def test_event_types_are_the_case_event_classes() -> None:
    assert {"Opened", "ActionTaken", "Escalated", "DeadlineBreached"} <= set(EVENT_TYPES)
    assert "Created" not in EVENT_TYPES and "Event" not in EVENT_TYPES


def test_a_good_request() -> None:
    assert check_subscription({"url": " https://example.com/h?x=1 ", "events": ["Escalated"], "secret": SECRET}) == (
        "https://example.com/h?x=1", ["Escalated"], SECRET)


def test_every_problem_at_once() -> None:
    with pytest.raises(InvalidFields) as caught:
        check_subscription({"url": "file:///etc/passwd", "events": ["Opened", 3], "secret": "x", "id": 1})
    fields = [e["field"] for e in caught.value.extra["errors"]]
    assert fields == ["id", "url", "url", "events[1]", "secret"]


def test_deny_networks() -> None:
    nets = deny_networks("127.0.0.0/8, ::1/128,10.0.0.0/8")
    assert denied(["127.0.0.1"], nets) == "127.0.0.1"
    assert denied(["::ffff:10.1.2.3"], nets) == "::ffff:10.1.2.3"  # an IPv4-mapped IPv6 address
    assert denied(["192.168.1.1", "8.8.8.8"], nets) is None
    assert deny_networks("") == []
    with pytest.raises(ValueError, match="CASETRAIL_WEBHOOK_DENY"):
        deny_networks("127.0.0.0/8,nonsense")
    with pytest.raises(DeniedAddress):
        check_destination("http://[::1]:8080/x", nets)
    assert check_destination("http://192.168.1.1/x", nets) == ["192.168.1.1"]
    assert check_destination("http://unresolvable.invalid/x", []) == []  # nothing denied: no lookup


def test_signature_is_the_hmac_of_the_exact_body() -> None:
    body = '{"type":"Escalated","title":"包裹"}'.encode()
    assert signature(SECRET, body) == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature(SECRET, body + b" ") != signature(SECRET, body)


def test_pinned_keeps_host_and_tls_name() -> None:
    assert pinned("https://hooks.example.com:8443/a?b=1", "203.0.113.5") == (
        "https://203.0.113.5:8443/a?b=1", {"Host": "hooks.example.com:8443"}, {"sni_hostname": "hooks.example.com"})
    assert pinned("http://h.example/x", "2001:db8::1")[0] == "http://[2001:db8::1]/x"
    assert pinned("http://127.0.0.1:9/x", "127.0.0.1") == ("http://127.0.0.1:9/x", {}, {})


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASETRAIL_WEBHOOK_DISABLE_AFTER", "3")
    monkeypatch.setenv("CASETRAIL_WEBHOOK_ATTEMPTS", "0")
    s = Settings.from_env()
    assert s.disable_after == 3 and s.attempts == 1 and s.timeout == Settings().timeout
