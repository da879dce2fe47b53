"""The checkpoint signing key: an Ed25519 key pair kept in a file outside the database.

``CASETRAIL_SIGNING_KEY`` names the private key file (PEM, PKCS#8). When it
is unset the file is ``casetrail-signing-key.pem`` next to the SQLite
database, or in the working directory for PostgreSQL. ``signer_for`` creates
the key pair on first use (mode 0600, written to a temporary file and linked
into place, so two processes starting at once end up with the same key).
Hosts that only verify can hold just the public key: ``CASETRAIL_PUBLIC_KEY``
(a PEM file, as ``casetrail audit public-key`` prints). ``public_key_for``
never creates a key.

The public key is what an outside auditor needs, together with the witness
(``domain.audit.witness``); the private key never leaves this file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.audit.proofs import key_id
from domain.storage.database import database_url, sqlite_file

KEY_FILE = "casetrail-signing-key.pem"
KEY_ENV, PUBLIC_ENV = "CASETRAIL_SIGNING_KEY", "CASETRAIL_PUBLIC_KEY"


class SigningKeyError(ValueError):
    """The key file cannot be read, or is not an Ed25519 private key."""


class Signer:
    """An Ed25519 private key that signs checkpoint messages."""

    def __init__(self, private_key: Ed25519PrivateKey, path: str | None = None) -> None:
        self._private = private_key
        self.path = path
        self.key_id = key_id(private_key.public_key())

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        """A deterministic key (tests, fixtures): ``seed`` is 32 bytes."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def public_key(self) -> Ed25519PublicKey:
        return self._private.public_key()

    def sign(self, message: bytes) -> str:
        return self._private.sign(message).hex()

    def public_pem(self) -> str:
        return public_pem(self.public_key())

    def private_pem(self) -> bytes:
        return self._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def key_path(environ: Mapping[str, str] | None = None, url: str | None = None) -> str:
    """Where the private key lives: ``CASETRAIL_SIGNING_KEY``, else next to the SQLite
    database, else in the working directory."""
    env = os.environ if environ is None else environ
    configured = env.get(KEY_ENV)
    if configured:
        return configured
    return str(Path(default_folder(url or database_url(env))) / KEY_FILE)


def url_of(env: Mapping[str, str]) -> str:
    """A URL naming the database of an application's library settings (for default key
    locations): its SQLite file, else ``CASETRAIL_DATABASE_URL``."""
    path = env.get("SQLITE_DBNAME", "")
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite" and path and not path.startswith("file:"):
        return f"sqlite:///{path}"
    return database_url()


def default_folder(url: str) -> str:
    """The folder of the SQLite file ``url`` names, or the working directory."""
    path = sqlite_file(url)
    return os.path.dirname(os.path.abspath(path)) if path else os.getcwd()


def load_signer(path: str) -> Signer:
    try:
        data = Path(path).read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
    except (OSError, ValueError, TypeError) as e:
        raise SigningKeyError(f"cannot read the signing key {path}: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 private key")
    return Signer(key, path)


def signer_for(environ: Mapping[str, str] | None = None, url: str | None = None, *, create: bool = True) -> Signer:
    """The deployment's signer, creating the key file (0600) on first use."""
    path = key_path(environ, url)
    if os.path.exists(path) or not create:
        return load_signer(path)
    signer = Signer.generate()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(signer.private_pem())
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if another process made the key first: use theirs
        except FileExistsError:
            return load_signer(path)
    finally:
        os.unlink(tmp)
    return Signer(signer._private, path)


def load_public_key(pem: bytes | str) -> Ed25519PublicKey:
    """A PEM public key (or a PEM private key, whose public half is taken)."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        if b"PRIVATE KEY" in data:
            private = serialization.load_pem_private_key(data, password=None)
            key: Any = private.public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise SigningKeyError(f"not a PEM key: {e}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("not an Ed25519 key")
    return key


def public_key_for(environ: Mapping[str, str] | None = None, url: str | None = None) -> Ed25519PublicKey | None:
    """The public key checkpoints are verified with: ``CASETRAIL_PUBLIC_KEY``, else the
    public half of the signing key file; None when neither exists."""
    env = os.environ if environ is None else environ
    path = env.get(PUBLIC_ENV)
    if path:
        try:
            return load_public_key(Path(path).read_bytes())
        except OSError as e:
            raise SigningKeyError(f"cannot read the public key {path}: {e}") from None
    private = key_path(env, url)
    return load_signer(private).public_key() if os.path.exists(private) else None
