"""The provider's signing keys: generated at first start into the data dir, never committed.

Three PEM files in KEYS_DIR (var/keys/ unless OIDC_KEYS_DIR says otherwise):
    current.pem   signs every token issued now
    next.pem      published in the JWKS already, so every verifier has it cached before it
                  signs anything (`manage.py rotate_keys` promotes it)
    previous.pem  the key `rotate_keys` retired: still published until the tokens it signed
                  have expired, then dropped by the next rotation
A verifier that meets a `kid` it does not know fetches the JWKS again; with `next` published a
rotation never needs that fetch.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk

NAMES = ("current", "next", "previous")


@dataclass(frozen=True)
class KeySet:
    current: str  # PEM
    next: str
    previous: str | None = None

    @property
    def inactive(self) -> list[str]:
        """Published but not signing: what DOT calls OIDC_RSA_PRIVATE_KEYS_INACTIVE."""
        return [pem for pem in (self.next, self.previous) if pem]


def new_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()


def kid(pem: str) -> str:
    """The key id the JWKS publishes (DOT uses the RFC 7638 thumbprint): tokens must match it."""
    return jwk.JWK.from_pem(pem.encode()).thumbprint()


def _write_once(path: Path, pem: str) -> None:
    # Two processes of the stage may start at once: each writes a temporary file and links it
    # into place; the link fails for the second, which then reads the first one's key. Both
    # sign with the same key, and a private key is never readable by other users.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def ensure(directory: Path) -> KeySet:
    """Load the key set, generating what is missing (the first start)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("current", "next"):
        if not (directory / f"{name}.pem").exists():
            _write_once(directory / f"{name}.pem", new_pem())
    previous = directory / "previous.pem"
    return KeySet(
        current=(directory / "current.pem").read_text(),
        next=(directory / "next.pem").read_text(),
        previous=previous.read_text() if previous.exists() else None,
    )


def rotate(directory: Path) -> KeySet:
    """next signs from now on, current is kept published as previous, a new next appears.

    The processes read their keys at start: restart the monolith after a rotation (the gateway
    needs nothing: it already has `next` from the JWKS).
    """
    keys = ensure(directory)
    (directory / "previous.pem").write_text(keys.current)
    (directory / "current.pem").write_text(keys.next)
    (directory / "next.pem").write_text(new_pem())
    for name in NAMES:
        os.chmod(directory / f"{name}.pem", 0o600)
    return ensure(directory)
