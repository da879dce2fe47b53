"""MessagePack transcoder for stored event bodies.

Owns the byte format of every event (and snapshot) state that casetrail
writes to the event store: :class:`MsgpackTranscoder` is an
``eventsourcing.persistence.Transcoder`` that encodes with msgpack instead
of JSON.  Applications select it with the library's ``TRANSCODER_TOPIC``
setting (``"domain.storage.transcoder:MsgpackTranscoder"``) or by overriding
``Application.construct_transcoder``.

Plain values (``None``, ``bool``, ``int`` within 64 bits, ``float``,
``str``, ``bytes``, ``list``, ``dict``) map directly onto msgpack types and
are packed by the C extension with no Python-level callback.  Other values
use msgpack extension types, whose codes below are part of the stored format
and must never be renumbered:

====  =============================  ==========================================
code  Python type                    payload
====  =============================  ==========================================
1     ``tuple``                      msgpack array of the items
2     ``uuid.UUID``                  the 16 raw bytes
3     ``datetime.datetime``          ISO 8601 text (keeps the UTC offset;
                                     naive datetimes stay naive)
4     ``datetime.date``              ISO 8601 text
5     ``decimal.Decimal``            ``str(value)``
6     ``int`` outside 64 bits        signed big-endian two's complement bytes
7     ``set``                        msgpack array of the items
8     ``frozenset``                  msgpack array of the items
9     ``datetime.timedelta``         msgpack array ``[days, seconds, micros]``
10    ``datetime.time``              ISO 8601 text
11    ``datetime.datetime`` whose    msgpack array ``[wall-clock ISO text,
      UTC offset has microseconds    offset in microseconds]`` (Python 3.11's
                                     ``fromisoformat`` drops such offsets)
64    registered ``Transcoding``     msgpack array ``[name, encoded data]``
====  =============================  ==========================================

Custom types are supported the same way as by the library's
``JSONTranscoder``: ``register(transcoding)`` with a
``eventsourcing.persistence.Transcoding`` (``type``, ``name``, ``encode``,
``decode``).  Encoding an unregistered type, or decoding an unknown
registered name, raises ``TranscodingNotRegisteredError`` (a ``TypeError``)
with the library's messages.

Registering a transcoding for a type that has a built-in extension type
(``UUIDAsHex``, ``DatetimeAsISO`` and ``DecimalAsStr`` are registered by
every ``Application``) is accepted and its name stays decodable, but values
of that type are still written with the faster built-in extension.

Subclasses of ``str``, ``int``, ``float``, ``dict``, ``list`` and ``tuple``
use a registered transcoding for their exact type when there is one;
otherwise they are written as their base type, as ``JSONTranscoder`` does
(so an ``enum.StrEnum`` member reads back as a plain ``str``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, SafeUUID

import msgpack
from eventsourcing.persistence import (
    Transcoder,
    Transcoding,
    TranscodingNotRegisteredError,
)

__all__ = [
    "EXT_BIGINT",
    "EXT_DATE",
    "EXT_DATETIME",
    "EXT_DATETIME_ODD_OFFSET",
    "EXT_DECIMAL",
    "EXT_FROZENSET",
    "EXT_REGISTERED",
    "EXT_SET",
    "EXT_TIME",
    "EXT_TIMEDELTA",
    "EXT_TUPLE",
    "EXT_UUID",
    "MsgpackTranscoder",
]

EXT_TUPLE = 1
EXT_UUID = 2
EXT_DATETIME = 3
EXT_DATE = 4
EXT_DECIMAL = 5
EXT_BIGINT = 6
EXT_SET = 7
EXT_FROZENSET = 8
EXT_TIMEDELTA = 9
EXT_TIME = 10
EXT_DATETIME_ODD_OFFSET = 11
EXT_REGISTERED = 64

_ExtType = msgpack.ExtType
_unpackb = msgpack.unpackb
_from_bytes = int.from_bytes
_new_object = object.__new__
_set_attr = object.__setattr__
_UUID_UNKNOWN_SAFETY = SafeUUID.unknown
_ONE_MICROSECOND = timedelta(microseconds=1)
_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1

# Base types that msgpack packs natively (but only for the exact type, since
# the packer runs with strict_types=True so that tuples and subclasses reach
# the default callback instead of being silently flattened).
_NATIVE_BASES: tuple[tuple[type, Callable[[Any], Any]], ...] = (
    (str, str),
    (float, float),
    (dict, dict),
    (list, list),
    (bytes, bytes),
)


def _uuid_from_bytes_fast(data: bytes) -> UUID:
    # UUID(bytes=...) validates its arguments at some cost; the payload is
    # always exactly 16 bytes written by us, so build the object directly.
    obj = _new_object(UUID)
    _set_attr(obj, "int", _from_bytes(data, "big"))
    _set_attr(obj, "is_safe", _UUID_UNKNOWN_SAFETY)
    return obj


def _uuid_from_bytes_checked(data: bytes) -> UUID:
    return UUID(bytes=data)


def _select_uuid_decoder() -> Callable[[bytes], UUID]:
    probe = UUID("b2723fe2-c01a-40d2-875e-a3aac6a09ff5")
    try:
        fast = _uuid_from_bytes_fast(probe.bytes)
        if fast == probe and hash(fast) == hash(probe) and str(fast) == str(probe):
            return _uuid_from_bytes_fast
    except (AttributeError, TypeError):  # pragma: no cover - other Pythons
        pass
    return _uuid_from_bytes_checked  # pragma: no cover


_uuid_from_bytes = _select_uuid_decoder()


def _encode_bigint(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)


class MsgpackTranscoder(Transcoder):
    """Extensible transcoder that uses MessagePack.

    Thread-safe: encoding uses a fresh C packer per call (cheap), decoding is
    a stateless ``msgpack.unpackb`` call.
    """

    def __init__(self) -> None:
        self.types: dict[type, Transcoding] = {}
        self.names: dict[str, Transcoding] = {}
        default = self._default
        ext_hook = self._ext_hook
        self._packer_class = msgpack.Packer
        self._pack_options: dict[str, Any] = {
            "default": default,
            "use_bin_type": True,
            "strict_types": True,
        }
        self._unpack_options: dict[str, Any] = {
            "ext_hook": ext_hook,
            "raw": False,
            "strict_map_key": False,
            "use_list": True,
        }
        self._builtin_encoders: dict[type, Callable[[Any], msgpack.ExtType]] = {
            tuple: self._encode_tuple,
            UUID: _encode_uuid,
            datetime: _encode_datetime,
            date: _encode_date,
            Decimal: _encode_decimal,
            set: self._encode_set,
            frozenset: self._encode_frozenset,
            timedelta: _encode_timedelta,
            time: _encode_time,
        }
        self._ext_decoders: dict[int, Callable[[bytes], Any]] = {
            EXT_TUPLE: self._decode_tuple,
            EXT_UUID: _uuid_from_bytes,
            EXT_DATETIME: _decode_datetime,
            EXT_DATE: _decode_date,
            EXT_DECIMAL: _decode_decimal,
            EXT_BIGINT: _decode_bigint,
            EXT_SET: self._decode_set,
            EXT_FROZENSET: self._decode_frozenset,
            EXT_TIMEDELTA: self._decode_timedelta,
            EXT_TIME: _decode_time,
            EXT_DATETIME_ODD_OFFSET: self._decode_datetime_odd_offset,
            EXT_REGISTERED: self._decode_registered,
        }

    def register(self, transcoding: Transcoding) -> None:
        """Registers given transcoding with the transcoder."""
        self.types[transcoding.type] = transcoding
        self.names[transcoding.name] = transcoding

    def encode(self, obj: Any) -> bytes:
        """Encodes given object as msgpack bytes."""
        return self._packer_class(**self._pack_options).pack(obj)

    def decode(self, data: bytes) -> Any:
        """Decodes msgpack bytes as previously encoded object."""
        return _unpackb(data, **self._unpack_options)

    # Encoding -------------------------------------------------------------

    def _default(self, obj: Any) -> Any:
        obj_type = type(obj)
        builtin = self._builtin_encoders.get(obj_type)
        if builtin is not None:
            return builtin(obj)
        transcoding = self.types.get(obj_type)
        if transcoding is not None:
            payload = self.encode([transcoding.name, transcoding.encode(obj)])
            return _ExtType(EXT_REGISTERED, payload)
        if isinstance(obj, int):
            # An exact int only gets here when it does not fit in 64 bits.
            value = int(obj)
            if obj_type is int or not _INT64_MIN <= value <= _UINT64_MAX:
                return _ExtType(EXT_BIGINT, _encode_bigint(value))
            return value
        for base, convert in _NATIVE_BASES:
            if isinstance(obj, base):
                return convert(obj)
        if isinstance(obj, tuple):
            return self._encode_tuple(obj)
        msg = (
            f"Object of type {obj_type} is not "
            "serializable. Please define and register "
            "a custom transcoding for this type."
        )
        raise TranscodingNotRegisteredError(msg)

    def _encode_tuple(self, obj: tuple[Any, ...]) -> msgpack.ExtType:
        return _ExtType(EXT_TUPLE, self.encode(list(obj)))

    def _encode_set(self, obj: set[Any]) -> msgpack.ExtType:
        return _ExtType(EXT_SET, self.encode(list(obj)))

    def _encode_frozenset(self, obj: frozenset[Any]) -> msgpack.ExtType:
        return _ExtType(EXT_FROZENSET, self.encode(list(obj)))

    # Decoding -------------------------------------------------------------

    def _ext_hook(self, code: int, data: bytes) -> Any:
        try:
            decoder = self._ext_decoders[code]
        except KeyError:
            return _ExtType(code, data)
        return decoder(data)

    def _decode_tuple(self, data: bytes) -> tuple[Any, ...]:
        return tuple(self.decode(data))

    def _decode_set(self, data: bytes) -> set[Any]:
        return set(self.decode(data))

    def _decode_frozenset(self, data: bytes) -> frozenset[Any]:
        return frozenset(self.decode(data))

    def _decode_timedelta(self, data: bytes) -> timedelta:
        days, seconds, microseconds = self.decode(data)
        return timedelta(days=days, seconds=seconds, microseconds=microseconds)

    def _decode_datetime_odd_offset(self, data: bytes) -> datetime:
        wall, offset_us = self.decode(data)
        offset = timezone(timedelta(microseconds=offset_us))
        return datetime.fromisoformat(wall).replace(tzinfo=offset)

    def _decode_registered(self, data: bytes) -> Any:
        name, encoded = self.decode(data)
        try:
            transcoding = self.names[name]
        except KeyError:
            msg = (
                f"Data serialized with name '{name}' is not "
                "deserializable. Please register a "
                "custom transcoding for this type."
            )
            raise TranscodingNotRegisteredError(msg) from None
        return transcoding.decode(encoded)


def _encode_uuid(obj: UUID) -> msgpack.ExtType:
    return _ExtType(EXT_UUID, obj.bytes)


def _encode_datetime(obj: datetime) -> msgpack.ExtType:
    if obj.tzinfo is not None:
        offset = obj.utcoffset()
        if offset is not None and offset.microseconds:
            wall = obj.replace(tzinfo=None).isoformat()
            payload = msgpack.packb([wall, offset // _ONE_MICROSECOND])
            return _ExtType(EXT_DATETIME_ODD_OFFSET, payload)
    return _ExtType(EXT_DATETIME, obj.isoformat().encode("ascii"))


def _decode_datetime(data: bytes) -> datetime:
    return datetime.fromisoformat(data.decode("ascii"))


def _encode_date(obj: date) -> msgpack.ExtType:
    return _ExtType(EXT_DATE, obj.isoformat().encode("ascii"))


def _decode_date(data: bytes) -> date:
    return date.fromisoformat(data.decode("ascii"))


def _encode_time(obj: time) -> msgpack.ExtType:
    return _ExtType(EXT_TIME, obj.isoformat().encode("ascii"))


def _decode_time(data: bytes) -> time:
    return time.fromisoformat(data.decode("ascii"))


def _encode_decimal(obj: Decimal) -> msgpack.ExtType:
    return _ExtType(EXT_DECIMAL, str(obj).encode("ascii"))


def _decode_decimal(data: bytes) -> Decimal:
    return Decimal(data.decode("ascii"))


def _decode_bigint(data: bytes) -> int:
    return _from_bytes(data, "big", signed=True)


def _encode_timedelta(obj: timedelta) -> msgpack.ExtType:
    payload = msgpack.packb([obj.days, obj.seconds, obj.microseconds])
    return _ExtType(EXT_TIMEDELTA, payload)
