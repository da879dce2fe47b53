"""Field specifications from case-type files and validation of submitted values.

A field spec is data (``{type = "enum", values = [...], required = true}``);
``FieldSpec.from_mapping`` checks the spec itself, ``validate_fields`` checks
what a caller submits against a set of specs and returns normalised values
(money as ``Decimal`` strings, times as RFC 3339 strings) or raises
``InvalidFields`` listing every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.model.errors import CaseTypeError, InvalidFields
from domain.model.moments import parse_time

FIELD_TYPES = ("string", "text", "enum", "int", "decimal", "bool", "datetime", "staff", "date", "pattern", "list",
               "attachment")
SPEC_KEYS = {"type", "required", "default", "values", "min", "max", "max_length", "doc", "pattern", "check",
             "items", "max_items", "set_by_action", "personal"}
CHECKS = ("gb11643",)  # resident ID numbers: 17 digits and a check digit (GB 11643)
MAX_ITEMS = 200
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
ATTACHMENT_KEYS = {"name", "media_type", "size", "sha256"}
MAX_TEXT = 20_000
MAX_STRING = 500


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    required: bool = False
    default: Any = None
    values: tuple[str, ...] = ()
    min: Decimal | None = None
    max: Decimal | None = None
    max_length: int | None = None
    doc: str = ""
    pattern: str | None = None
    check: str | None = None
    items: Mapping[str, FieldSpec] | None = None
    max_items: int = MAX_ITEMS
    set_by_action: bool = False  # written only by an action's sets/computes: not given on opening, not corrected
    personal: bool = False  # personal data: sealed with the data subject's key in stored events (docs/PRIVACY.md)

    @classmethod
    def from_mapping(cls, name: str, data: Any, where: str) -> FieldSpec:
        if not isinstance(data, Mapping):
            raise CaseTypeError(f"{where}: field '{name}' must be a table")
        unknown = set(data) - SPEC_KEYS
        if unknown:
            raise CaseTypeError(f"{where}: field '{name}': unknown keys {sorted(unknown)}")
        ftype = data.get("type")
        if ftype not in FIELD_TYPES:
            raise CaseTypeError(
                f"{where}: field '{name}': type {ftype!r} is not one of {list(FIELD_TYPES)}"
            )
        values = tuple(data.get("values", ()))
        if ftype == "enum" and not values:
            raise CaseTypeError(f"{where}: field '{name}': enum needs 'values'")
        pattern, check = data.get("pattern"), data.get("check")
        if ftype == "pattern":
            if not isinstance(pattern, str) or not pattern:
                raise CaseTypeError(f"{where}: field '{name}': a pattern field needs 'pattern' (a regular expression)")
            try:
                re.compile(pattern)
            except re.error as e:
                raise CaseTypeError(f"{where}: field '{name}': 'pattern' is not a regular expression: {e}") from None
            if check is None and name == "id_number":
                check = "gb11643"  # an ID-card number is verified, not only matched
        if check is not None and check not in CHECKS:
            raise CaseTypeError(f"{where}: field '{name}': 'check' must be one of {list(CHECKS)}")
        items = None
        if ftype == "list":
            raw_items = data.get("items")
            if not isinstance(raw_items, Mapping) or not raw_items:
                raise CaseTypeError(f"{where}: field '{name}': a list needs 'items' (a table of the item's fields)")
            items = {k: cls.from_mapping(k, v, f"{where}: field '{name}'.items") for k, v in raw_items.items()}
        max_items = data.get("max_items", MAX_ITEMS)
        if isinstance(max_items, bool) or not isinstance(max_items, int) or not 1 <= max_items <= MAX_ITEMS:
            raise CaseTypeError(f"{where}: field '{name}': 'max_items' must be 1 to {MAX_ITEMS}")
        spec = cls(
            name=name,
            type=ftype,
            required=bool(data.get("required", False)),
            default=data.get("default"),
            values=values,
            min=Decimal(str(data["min"])) if "min" in data else None,
            max=Decimal(str(data["max"])) if "max" in data else None,
            max_length=data.get("max_length"),
            doc=data.get("doc", ""),
            pattern=pattern,
            check=check,
            items=items,
            max_items=max_items,
            set_by_action=bool(data.get("set_by_action", False)),
            personal=_flag(data.get("personal", False), f"{where}: field '{name}': 'personal'"),
        )
        if spec.default is not None:
            try:
                spec.coerce(spec.default)
            except ValueError as e:
                raise CaseTypeError(f"{where}: field '{name}': bad default: {e}") from e
        return spec

    def coerce(self, value: Any) -> Any:
        """Return the normalised value or raise ValueError saying what is wrong."""
        t = self.type
        if t in ("string", "text", "staff"):
            if not isinstance(value, str):
                raise ValueError(f"must be a string, got {type(value).__name__}")
            limit = self.max_length or (MAX_TEXT if t == "text" else MAX_STRING)
            if len(value) > limit:
                raise ValueError(f"is longer than {limit} characters")
            if self.required and not value.strip():
                raise ValueError("must not be empty")
            check_text(value)
            return value
        if t == "enum":
            if value not in self.values:
                raise ValueError(f"must be one of {list(self.values)}, got {value!r}")
            return value
        if t == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, got {value!r}")
            return value
        if t == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"must be an integer, got {value!r}")
            self._check_range(Decimal(value))
            return value
        if t == "decimal":
            return str(self._decimal(value))
        if t == "datetime":
            return parse_time(value).isoformat()
        if t == "date":
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError(f"must be a date like 2026-12-01, got {value!r}")
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                raise ValueError(f"is not a calendar date: {value!r}") from None
        if t == "pattern":
            return self._patterned(value)
        if t == "list":
            return self._list(value)
        if t == "attachment":
            return attachment(value)
        raise ValueError(f"unsupported type {t}")  # pragma: no cover

    def _patterned(self, value: Any) -> str:
        if not isinstance(value, str) or len(value) > (self.max_length or MAX_STRING):
            raise ValueError("must be a short string")
        assert self.pattern is not None
        if not re.fullmatch(self.pattern, value):
            raise ValueError(f"does not match the pattern {self.pattern}")
        if self.check == "gb11643" and not gb11643_valid(value):
            raise ValueError("is not a valid resident ID number (GB 11643 check digit)")
        return value

    def _list(self, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise ValueError("must be a list of objects")
        if len(value) > self.max_items:
            raise ValueError(f"has more than {self.max_items} items")
        assert self.items is not None
        out = []
        for i, item in enumerate(value):
            try:
                out.append(validate_fields(self.items, item, what=f"item {i}"))
            except InvalidFields as e:
                problems = "; ".join(f"{p['field']} {p['problem']}" for p in e.extra.get("errors", [])) or str(e)
                raise ValueError(f"item {i}: {problems}") from None
        return out

    def _decimal(self, value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise ValueError(f"must be a decimal string like \"20000.00\", got {value!r}")
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"must be a decimal number, got {value!r}") from None
        if not d.is_finite():
            raise ValueError("must be a finite number")
        if d.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError("must have at most 2 decimal places (yuan.fen)")
        if abs(d) >= Decimal("1e13"):
            raise ValueError("is out of range")
        self._check_range(d)
        return d.quantize(Decimal("0.01"))

    def _check_range(self, d: Decimal) -> None:
        if self.min is not None and d < self.min:
            raise ValueError(f"must be >= {self.min}")
        if self.max is not None and d > self.max:
            raise ValueError(f"must be <= {self.max}")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "required": self.required}
        if self.set_by_action:
            out["set_by_action"] = True
        if self.personal:
            out["personal"] = True
        if self.values:
            out["values"] = list(self.values)
        if self.default is not None:
            out["default"] = self.default
        if self.min is not None:
            out["min"] = str(self.min)
        if self.max is not None:
            out["max"] = str(self.max)
        if self.pattern is not None:
            out["pattern"] = self.pattern
        if self.check is not None:
            out["check"] = self.check
        if self.items is not None:
            out["items"] = {k: v.describe() for k, v in self.items.items()}
            out["max_items"] = self.max_items
        return out


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise CaseTypeError(f"{what} must be true or false")
    return value


def gb11643_valid(number: str) -> bool:
    """Whether an 18-character resident ID number's last character is its GB 11643 check digit."""
    if not re.fullmatch(r"\d{17}[\dXx]", number):
        return False
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


def attachment(value: Any) -> dict[str, Any]:
    """An attachment by reference: name, media type, size and SHA-256 (the bytes are not in the event)."""
    if not isinstance(value, Mapping) or set(value) != ATTACHMENT_KEYS:
        raise ValueError(f"must be an object with exactly {sorted(ATTACHMENT_KEYS)}")
    name, media, size, digest = value["name"], value["media_type"], value["size"], value["sha256"]
    if not isinstance(name, str) or not 0 < len(name) <= 255 or "/" in name or "\\" in name:
        raise ValueError("name must be a file name of 1-255 characters")
    check_text(name)
    if not isinstance(media, str) or not MEDIA_TYPE.match(media):
        raise ValueError("media_type must be a media type such as application/pdf")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 10**12:
        raise ValueError("size must be a whole number of bytes")
    if not isinstance(digest, str) or not SHA256.match(digest):
        raise ValueError("sha256 must be 64 lower-case hexadecimal digits")
    return {"name": name, "media_type": media, "size": size, "sha256": digest}


def check_text(value: str) -> None:
    """Text must be storable everywhere: no NUL characters, no lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None


def validate_fields(
    specs: Mapping[str, FieldSpec],
    data: Any,
    *,
    what: str,
    apply_defaults: bool = True,
    ignore: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Validate ``data`` against ``specs``; return normalised values.

    Raises ``InvalidFields`` with an ``errors`` list (field, problem) naming
    every unknown, missing or mistyped field.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidFields(f"{what}: expected an object of fields", errors=[])
    errors: list[dict[str, str]] = []
    out: dict[str, Any] = {}
    for key in data:
        if key in ignore:
            continue
        if not isinstance(key, str) or key not in specs:
            errors.append({"field": str(key), "problem": f"unknown field; allowed: {sorted(specs)}"})
    for name, spec in specs.items():
        if name in data and data[name] is not None:
            try:
                out[name] = spec.coerce(data[name])
            except ValueError as e:
                errors.append({"field": name, "problem": str(e)})
        elif spec.required:
            errors.append({"field": name, "problem": "is required"})
        elif apply_defaults and spec.default is not None:
            out[name] = spec.default
    if errors:
        summary = "; ".join(f"{e['field']} {e['problem']}" for e in errors)
        raise InvalidFields(f"{what}: {summary}", errors=errors)
    return out
