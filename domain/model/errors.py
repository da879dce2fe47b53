"""Domain errors: every way a command on a case can be refused.

Each error names what was wrong and, where it helps the caller, what is
allowed instead. The API maps each class to an HTTP status (``status``) and a
problem-document ``type`` slug (``kind``); the command line prints ``str(e)``.
Nothing is recorded when one of these is raised.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: a command was refused."""

    status = 422
    kind = "domain-error"
    title = "Command refused"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class CaseTypeError(DomainError):
    """A case-type or calendar file is malformed (names file and key)."""

    kind = "case-type-invalid"
    title = "Malformed case-type definition"


class UnknownCaseType(DomainError):
    status = 422
    kind = "unknown-case-type"
    title = "Unknown case type"


class UnknownAction(DomainError):
    status = 404
    kind = "unknown-action"
    title = "Unknown action"


class ActionNotAllowed(DomainError):
    """The action exists but is not allowed in the case's current state."""

    kind = "action-not-allowed"
    title = "Action not allowed in this state"


class RoleNotAllowed(DomainError):
    """The caller's roles do not permit the action."""

    status = 403
    kind = "forbidden"
    title = "Role not allowed"


class InvalidFields(DomainError):
    """Missing, unknown or mistyped fields."""

    kind = "invalid-fields"
    title = "Invalid fields"


class GuardFailed(DomainError):
    """A precondition of the action (a guard in the case-type file) failed."""

    kind = "guard-failed"
    title = "Precondition not met"


class ApprovalNotAllowed(DomainError):
    """An approval by a role that is not (or no longer) required in the chain."""

    status = 403
    kind = "approval-not-allowed"
    title = "Approval not allowed"


class DuplicateApproval(DomainError):
    """The same person tried to approve twice in one chain."""

    kind = "duplicate-approval"
    title = "Same person cannot approve twice"


class ApprovalsMissing(DomainError):
    """An action (e.g. ``ship``) requires approvals that are not granted yet."""

    kind = "approvals-missing"
    title = "Required approvals missing"


class VersionConflict(DomainError):
    """The case moved on since the version the caller expected."""

    status = 409
    kind = "version-conflict"
    title = "Version conflict"


class AlreadyTaken(DomainError):
    """Someone else took the case first (e.g. a second technician's accept)."""

    status = 409
    kind = "already-taken"
    title = "Already taken"


class CaseNotFound(DomainError):
    status = 404
    kind = "not-found"
    title = "Case not found"


class StaffNotFound(DomainError):
    status = 422
    kind = "unknown-staff"
    title = "Unknown staff member"


class StaffExists(DomainError):
    status = 409
    kind = "staff-exists"
    title = "Staff member exists"


class AuthenticationFailed(DomainError):
    status = 401
    kind = "unauthorized"
    title = "Authentication required"


class TokenExpired(AuthenticationFailed):
    """The token was valid once; its expiry time has passed (issue a new one)."""

    kind = "token-expired"
    title = "Token expired"


class TokenNotFound(DomainError):
    """No token has this token id."""

    status = 404
    kind = "unknown-token"
    title = "Unknown token"


class IdempotencyMismatch(DomainError):
    """An Idempotency-Key was reused with a different request body."""

    kind = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"


class CustomerNotFound(DomainError):
    """Erasure: no personal data is held for this customer."""

    status = 404
    kind = "customer-not-found"
    title = "Customer not found"


class AlreadyErased(DomainError):
    """Erasure: the customer's key was destroyed already."""

    status = 409
    kind = "already-erased"
    title = "Already erased"
