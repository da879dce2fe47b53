"""Unit: ``api.logging.redact_text`` on the forms people really write, and on text it must leave alone.

Phone numbers in groups (dashes, spaces, dots, full-width hyphens and
ideographic spaces), with ``+86`` / ``86`` prefixes, in full-width digits
or a mix; ID-card numbers in full-width digits, ending in a full-width X,
or grouped 6-8-4. Ordinary log text (timestamps, UUIDs, case numbers,
amounts, versions, Chinese prose) comes out unchanged. Also: the request
id rule of ``api.middleware.request_id_of``.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from starlette.datastructures import Headers

from api.logging import redact_text
from api.middleware import request_id_of

FULL = str.maketrans("0123456789X+-", "０１２３４５６７８９Ｘ＋－")
PHONES = [
    "13812345678", "138-1234-5678", "138 1234 5678", "138.1234.5678", "138–1234–5678",
    "+86 138 1234 5678", "+86-138-1234-5678", "+86 13812345678", "86 13812345678", "+8613812345678",
    "13812345678".translate(FULL), "138-1234-5678".translate(FULL), "+86 138 1234 5678".translate(FULL),
    "１３８\u3000１２３４\u3000５６７８", "138\u00a01234\u00a05678", "１３８1234５６７８",
]
ID_CARDS = [
    "11010519491231002X", "11010519491231002x", "110105194912310021", "11010519491231002Ｘ",
    "11010519491231002X".translate(FULL), "110105 19491231 002X", "110105-19491231-0021",
    "110105－19491231－002Ｘ",
]
DIGITS = re.compile(r"138\D{0,3}1234\D{0,3}5678|110105\D{0,3}19491231\D{0,3}002")


@pytest.mark.parametrize("secret", PHONES + ID_CARDS)
@pytest.mark.parametrize("around", ["{}", "tel {} ok", "电话：{}。", "path=/v1/x/{}/y", '{{"phone": "{}"}}'])
def test_phone_and_id_card_numbers_are_redacted_in_every_form(secret: str, around: str) -> None:
    text = around.format(secret)
    out = redact_text(text)
    assert "redacted]" in out, out
    assert not DIGITS.search(unicodedata.normalize("NFKC", out)), out
    assert out.replace(out[out.index("["):out.index("]") + 1], secret, 1) == text  # only the number changed


@pytest.mark.parametrize("text", [
    "2026-12-01T09:34:27.471074+00:00", "2026-11-16 10:00:00+08:00", "1858b4ec-eadb-56dc-ae7f-916f9b6b2704",
    "TS-202612-0001", "OR-202611-0042 v12", "20000.00", "amount 1234567.89 CNY", "took 12.5 ms",
    "version 123 position 45678", "1700000000.123456", "pid 12345 port 54641", "20261201093427",
    "顾客投诉包裹破损，要求退款。", "王先生 · 会员", "１２月１日", "page 2 of 13", "+1 415 555 0100",
    "case 1858b4ec-eadb-56dc-ae7f-916f9b6b2704 v12 position 318 took 12.5 ms", "ratio 123456.78901234567",
])
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize("given, kept", [
    ("req-abc-42", True), ("1858b4ec-eadb-56dc-ae7f-916f9b6b2704", True), ("trace:01.02", True),
    ("13812345678", False), ("req-138-1234-5678", False), ("ct_k5FOYBXectJV-HNeak", False),
    ("11010519491231002X", False), ("１３８１２３４５６７８", False), ("x" * 129, False), ("a b", False),
])
def test_a_request_id_with_personal_data_is_replaced(given: str, kept: bool) -> None:
    raw = Headers(raw=[(b"x-request-id", given.encode("utf-8"))])
    got = request_id_of(raw)
    assert (got == given) is kept
    if not kept:
        assert re.fullmatch(r"[0-9a-f]{32}", got)
