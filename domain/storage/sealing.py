"""Sealing personal values in stored case events, before the hash chain covers them.

The case-type files mark personal fields (``personal = true``). When a case
event (or a case snapshot) is encoded, ``Sealer.seal`` replaces each personal
value in its state by a *sealed token*: ``MAGIC + key id (8 bytes) + nonce (12)
+ AES-GCM ciphertext`` of the value's msgpack bytes, under the data subject's
key (``domain.storage.keys``), with the case id and the value's location in
the state (``customer/name``, ``data/phone``, ``changes/customer.phone/1``) as
associated data, so a token cannot be moved to another case or field. The
hash chain (``domain.storage.chain``) then covers ciphertext, so destroying a
key changes no stored byte and ``audit verify`` still passes.

Where values are sealed: Opened ``customer`` and ``fields``; ActionTaken
``data`` (an action field marked personal, or one whose ``sets`` target is)
and ``changes`` of personal paths (both old and new); the ``changes`` of
DeadlineBreached and LinkedOutcomeRecorded; a case snapshot's ``customer``
and ``fields``. The data subject is the customer id (``customer:<id>``) when
the case has one, else the case (``case:<uuid>``).

``Sealer.unseal`` walks a decoded state and opens every token, or puts
``ERASED`` where the key was destroyed. Events stored before sealing existed
hold plaintext, which stays readable (docs/PRIVACY.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.model.casetype import CaseType
from domain.storage.keys import SubjectKeys

MAGIC = b"\x00ct-sealed1\x00"
_NESTED = (dict, list, bytes)  # what may be or hold a sealed value
ERASED = "[erased]"
CHANGE_EVENTS = ("ActionTaken", "DeadlineBreached", "LinkedOutcomeRecorded")


class PersonalPaths:
    """Which paths of a case type are personal (``customer.x``, ``fields.y``) and which
    action data names are."""

    def __init__(self, ct: CaseType) -> None:
        self.customer = {k for k, v in ct.customer.items() if v.personal}
        self.fields = {k for k, v in ct.fields.items() if v.personal}
        self.paths = {f"customer.{k}" for k in self.customer} | {f"fields.{k}" for k in self.fields}
        self.data: dict[str, set[str]] = {}
        for name, spec in ct.actions.items():
            names = {k for k, f in spec.fields.items() if f.personal}
            names |= {k for k, target in spec.sets.items()
                      if (target if "." in target else f"fields.{target}") in self.paths}
            if names:
                self.data[name] = names
        # a correction's data names the path it corrects: its value is personal when the path is
        self.corrections = {name for name, spec in ct.actions.items() if spec.corrects}

    def __bool__(self) -> bool:
        return bool(self.paths)


def subject_of(customer: Any, case_id: Any) -> str:
    """The data subject of a case: its customer id, else the case itself."""
    cid = customer.get("id") if isinstance(customer, dict) else None
    return f"customer:{cid}" if isinstance(cid, str) and cid else f"case:{case_id}"


def normalised_phone(phone: str) -> str:
    """Digits only (full-width digits too), without a leading +86 / 0086."""
    digits = "".join(str(int(ch)) for ch in phone if ch.isdigit())
    return re.sub(r"^(0086|86)(?=1\d{10}$)", "", digits)


class Sealer:
    """Seals and opens personal values with the subjects' keys."""

    def __init__(self, keys: SubjectKeys, case_type: Callable[[str], CaseType | None]) -> None:
        self.keys = keys
        self._case_type = case_type
        self._paths: dict[str, PersonalPaths | None] = {}
        self._encode: Callable[[Any], bytes] | None = None
        self._decode: Callable[[bytes], Any] | None = None

    def bind(self, encode: Callable[[Any], bytes], decode: Callable[[bytes], Any]) -> None:
        """The transcoder's encode/decode, for the values inside tokens."""
        self._encode, self._decode = encode, decode

    def personal(self, type_name: Any) -> PersonalPaths | None:
        if not isinstance(type_name, str):
            return None
        if type_name not in self._paths:
            ct = self._case_type(type_name)
            paths = PersonalPaths(ct) if ct is not None else None
            self._paths[type_name] = paths if paths else None
        return self._paths[type_name]

    def blind(self, value: str) -> str:
        """A keyed hash of a unique key's value made of personal fields (``domain.model.uniqueness``)."""
        return "h:" + hmac.new(self.keys.master, b"unique:" + value.encode(), hashlib.sha256).hexdigest()

    def phone_hash(self, phone: Any) -> str | None:
        """A keyed hash (HMAC-SHA256 with the master key) of a normalised phone number."""
        digits = normalised_phone(phone) if isinstance(phone, str) else ""
        if not digits:
            return None
        return hmac.new(self.keys.master, b"phone:" + digits.encode(), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------- sealing
    def _token(self, key_id: str, key: bytes, case_id: str, loc: tuple[str, ...], value: Any) -> bytes:
        assert self._encode is not None
        nonce = secrets.token_bytes(12)
        aad = f"{case_id}/{'/'.join(loc)}".encode()
        return MAGIC + bytes.fromhex(key_id) + nonce + AESGCM(key).encrypt(nonce, self._encode(value), aad)

    def seal_event(self, topic: str, state: dict[str, Any], case_id: str, case_type: str | None,
                   subject: str | None) -> dict[str, Any]:
        """``state`` of a case event with its personal values sealed (a new dict; others unchanged)."""
        kind = topic.rsplit(":", 1)[-1]
        if not kind.startswith("Case."):
            return state
        kind = kind[len("Case."):]
        if kind == "Opened":
            case_type, subject = state.get("case_type"), subject_of(state.get("customer"), case_id)
        paths = self.personal(case_type)
        if paths is None or subject is None:
            return state
        key_id, key = self.keys.key_for(subject, case_id if kind == "Opened" else None)
        out = dict(state)
        if kind == "Opened":
            self._seal_top(out, paths, key_id, key, case_id)
        if kind in CHANGE_EVENTS and out.get("changes"):
            out["changes"] = {p: ([self._token(key_id, key, case_id, ("changes", p, str(i)), v)
                                   if v is not None else None for i, v in enumerate(c)] if p in paths.paths else c)
                              for p, c in out["changes"].items()}
        names = set(paths.data.get(out.get("action", ""), ())) if kind == "ActionTaken" else set()
        data = out.get("data")
        if kind == "ActionTaken" and out.get("action") in paths.corrections and isinstance(data, dict) \
                and data.get("field") in paths.paths:
            names.add("value")
        if names and isinstance(out.get("data"), dict):
            out["data"] = {k: (self._token(key_id, key, case_id, ("data", k), v) if k in names and v is not None
                               else v) for k, v in out["data"].items()}
        return out

    def seal_snapshot(self, state: dict[str, Any], case_id: str) -> dict[str, Any]:
        """A case snapshot's aggregate state with its personal values sealed."""
        paths = self.personal(state.get("case_type"))
        if paths is None or "customer" not in state:
            return state
        key_id, key = self.keys.key_for(subject_of(state.get("customer"), case_id))
        out = dict(state)
        self._seal_top(out, paths, key_id, key, case_id)
        return out

    def _seal_top(self, out: dict[str, Any], paths: PersonalPaths, key_id: str, key: bytes, case_id: str) -> None:
        for head, names in (("customer", paths.customer), ("fields", paths.fields)):
            values = out.get(head)
            if isinstance(values, dict) and names & set(values):
                out[head] = {k: (self._token(key_id, key, case_id, (head, k), v) if k in names and v is not None
                                 else v) for k, v in values.items()}

    # ------------------------------------------------------------- opening
    def unseal(self, value: Any, case_id: str, loc: tuple[str, ...] = ()) -> Any:
        """``value`` (a decoded state, or part of one) with every token opened, or ``ERASED``."""
        # (a rebuild opens every event: the location is built only for what can hold a token)
        if isinstance(value, dict):
            return {k: self.unseal(v, case_id, (*loc, str(k))) if isinstance(v, _NESTED) else v
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self.unseal(v, case_id, (*loc, str(i))) if isinstance(v, _NESTED) else v
                    for i, v in enumerate(value)]
        if isinstance(value, bytes) and value.startswith(MAGIC):
            return self._open(value, case_id, loc)
        return value

    def open_in_place(self, value: Any, case_id: str, loc: tuple[str, ...] = ()) -> Any:
        """As ``unseal``, but opening the tokens inside ``value`` where they are: for a state
        just decoded (its dicts and lists belong to the caller), without copying every
        container of every event as a rebuild would. Returns ``value``."""
        if isinstance(value, dict):
            for k, v in value.items():  # (values replaced, keys unchanged: safe while iterating)
                if isinstance(v, bytes):
                    if v.startswith(MAGIC):
                        value[k] = self._open(v, case_id, (*loc, str(k)))
                elif isinstance(v, (dict, list)):
                    self.open_in_place(v, case_id, (*loc, str(k)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, bytes):
                    if v.startswith(MAGIC):
                        value[i] = self._open(v, case_id, (*loc, str(i)))
                elif isinstance(v, (dict, list)):
                    self.open_in_place(v, case_id, (*loc, str(i)))
        return value

    def _open(self, token: bytes, case_id: str, loc: tuple[str, ...]) -> Any:
        assert self._decode is not None
        body = token[len(MAGIC):]
        key = self.keys.key(body[:8].hex())
        if key is None:
            return ERASED
        aad = f"{case_id}/{'/'.join(loc)}".encode()
        try:
            return self._decode(AESGCM(key).decrypt(body[8:20], body[20:], aad))
        except InvalidTag:
            raise SealError(f"a sealed value of case {case_id} at {'/'.join(loc)} does not open "
                            "(moved or altered ciphertext)") from None


class SealError(ValueError):
    """A sealed value does not open with its key: it was altered or moved."""
