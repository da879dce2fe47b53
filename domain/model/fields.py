"""Field specifications from case-type files and validation of submitted values.

A field spec is data (``{type = "enum", values = [...], required = true}``);
``FieldSpec.from_mapping`` checks the spec itself, ``validate_fields`` checks
what a caller submits against a set of specs and returns normalised values
(money as ``Decimal`` strings, times as RFC 3339 strings) or raises
``InvalidFields`` listing every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.model.errors import CaseTypeError, InvalidFields
from domain.model.moments import parse_time

FIELD_TYPES = ("string", "text", "enum", "int", "decimal", "bool", "datetime", "staff")
SPEC_KEYS = {"type", "required", "default", "values", "min", "max", "max_length", "doc"}
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
        raise ValueError(f"unsupported type {t}")  # pragma: no cover

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
        if self.values:
            out["values"] = list(self.values)
        if self.default is not None:
            out["default"] = self.default
        if self.min is not None:
            out["min"] = str(self.min)
        if self.max is not None:
            out["max"] = str(self.max)
        return out


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
