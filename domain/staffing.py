"""Staff members and their API tokens, as use cases of ``CaseTrail`` (a mixin of it).

``register_staff``, ``update_staff`` and ``deactivate_staff`` record the
roster (``domain.model.staff.Staff``); ``issue_token`` and ``revoke_token``
record tokens (``ApiToken``, keyed by the token's hash, so the secret finds
its record in one read); ``authenticate`` turns a bearer token into the
acting staff member, or refuses it (unknown, revoked, expired, or its staff
member deactivated). A token that did not change resolves with one read
(``domain.authcache``). Tokens by their public id: ``domain.tokens``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.model.actor import Actor, CommandContext, event_meta
from domain.model.errors import AuthenticationFailed, StaffExists, StaffNotFound, TokenExpired
from domain.model.staff import ApiToken, Staff, check_staff_fields, new_token, token_hash, token_id_of


class StaffUseCases:
    """The staff and token use cases; ``CaseTrail`` provides ``load``, ``save``, ``clock``,
    ``registry``, ``recorder`` and the authentication cache ``_auth``."""

    load: Any
    save: Any
    clock: Any
    registry: Any
    recorder: Any
    _auth: Any

    def register_staff(self, staff_id: str, name: str, department: str, roles: list[str],
                       actor: Actor = Actor.system("admin"), ctx: CommandContext = CommandContext()) -> Staff:
        check_staff_fields(staff_id, name, department, roles, self.registry.roles.names())
        staff = Staff(staff_id=staff_id, name=name, department=department, roles=sorted(set(roles)),
                      meta=event_meta(actor, self.clock(), ctx))
        try:
            self.save(staff)
        except IntegrityError:
            raise StaffExists(f"staff member {staff_id!r} exists already") from None
        return staff

    def update_staff(self, staff_id: str, *, name: str | None = None, department: str | None = None,
                     roles: list[str] | None = None, actor: Actor = Actor.system("admin")) -> Staff:
        staff = self.get_staff(staff_id)
        new = (name or staff.name, department or staff.department, sorted(set(roles or staff.roles)))
        check_staff_fields(staff_id, *new, known_roles=self.registry.roles.names())
        staff.update(*new, meta=event_meta(actor, self.clock(), CommandContext()))
        self.save(staff)
        return staff

    def deactivate_staff(self, staff_id: str, actor: Actor = Actor.system("admin")) -> Staff:
        """Lock a staff member out: every token of theirs is refused from now on."""
        staff = self.get_staff(staff_id)
        if staff.active:  # deactivating twice records nothing new
            staff.deactivate(meta=event_meta(actor, self.clock(), CommandContext()))
            self.save(staff)
        return staff

    def get_staff(self, staff_id: str) -> Staff:
        try:
            staff = self.load(Staff.create_id(staff_id))
        except (AggregateNotFoundError, TypeError, ValueError):
            raise StaffNotFound(f"unknown staff member {staff_id!r}") from None
        if not isinstance(staff, Staff):
            raise StaffNotFound(f"unknown staff member {staff_id!r}")
        return staff

    def staff_exists(self, staff_id: str) -> bool:
        try:
            return self.get_staff(staff_id).active
        except StaffNotFound:
            return False

    def issue_token(self, staff_id: str, ttl: timedelta | None = None,
                    actor: Actor = Actor.system("admin")) -> str:
        staff = self.get_staff(staff_id)
        token = new_token()
        now = self.clock()
        expires = (now + ttl).isoformat() if ttl else None
        hashed = token_hash(token)
        self.save(ApiToken(token_hash=hashed, staff_id=staff.staff_id, expires_at=expires,
                           meta=event_meta(actor, now, CommandContext()), token_id=token_id_of(hashed)))
        return token

    def revoke_token(self, token: str, actor: Actor = Actor.system("admin")) -> None:
        record = self._token(token)
        if record is None:
            raise AuthenticationFailed("unknown token")
        if record.revoked:  # revoking twice records nothing new
            return
        record.revoke(meta=event_meta(actor, self.clock(), CommandContext()), token_id=record.token_id)
        self.save(record)

    def _token(self, token: str) -> ApiToken | None:
        if not isinstance(token, str) or not token.startswith("ct_") or len(token) > 100:
            return None
        h = token_hash(token)
        try:
            record = self.load(ApiToken.create_id(h))
        except AggregateNotFoundError:
            return None
        return record if isinstance(record, ApiToken) else None

    def authenticate(self, token: str) -> Actor:
        """The actor of a valid token; unchanged tokens resolve with one read (``domain.authcache``)."""
        now = self.clock()
        hashed = token_hash(token) if isinstance(token, str) and token.startswith("ct_") and len(token) <= 100 \
            else None
        if hashed is not None:
            known = self._auth.get(hashed, self.recorder, now)
            if known is not None:
                return known
        record = self._token(token)
        if record is not None and record.revoked:
            raise AuthenticationFailed(f"the token {record.token_id} was revoked")
        if record is not None and record.expired(now):
            raise TokenExpired(f"the token {record.token_id} expired at {record.expires_at}; "
                               "ask for a new one (casetrail token issue)", token_id=record.token_id,
                               expired_at=record.expires_at)
        if record is None or not record.valid(token_hash(token), now):
            raise AuthenticationFailed("unknown token")
        staff = self.get_staff(record.staff_id)
        if not staff.active:
            raise AuthenticationFailed("staff member is not active")
        actor = staff.as_actor()
        if hashed is not None:
            self._auth.put(hashed, actor, record, staff)
        return actor
