"""The operator's Ed25519 key: create it, sign a checkpoint, check a published one.

The private key is a PEM file (PKCS#8, unencrypted, mode 0600) the operator keeps; the
public key (PEM, SubjectPublicKeyInfo) is what they publish next to their checkpoints.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from schemas.checkpoint import BadCheckpoint, Checkpoint, SignedCheckpoint

MAX_KEY_BYTES = 16 * 1024


class KeyFileError(ValueError):
    """A key file that is missing, too large or not an Ed25519 key."""


def generate(private_path: str | Path, public_path: str | Path) -> str:
    """Write a new key pair; refuses to overwrite. Returns the key id."""
    private_path, public_path = Path(private_path), Path(public_path)
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} exists: not overwriting a key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    return key_id(key.public_key())


def _read(path: str | Path) -> bytes:
    path = Path(path)
    if path.stat().st_size > MAX_KEY_BYTES:
        raise KeyFileError(f"{path} is over {MAX_KEY_BYTES} bytes: not a key")
    return path.read_bytes()


def load_private(path: str | Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def load_public(path: str | Path) -> Ed25519PublicKey:
    raw = _read(path)
    try:
        key = serialization.load_pem_public_key(raw)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def sign(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> SignedCheckpoint:
    signature = key.sign(checkpoint.signed_bytes())
    return SignedCheckpoint(checkpoint, base64.b64encode(signature).decode(),
                            key_id(key.public_key()))  # fmt: skip


def verify_checkpoint(signed: SignedCheckpoint, public: Ed25519PublicKey) -> None:
    """Raise BadCheckpoint unless `public` signed exactly this checkpoint."""
    try:
        signature = base64.b64decode(signed.signature, validate=True)
    except ValueError as exc:
        raise BadCheckpoint("the signature is not base64") from exc
    try:
        public.verify(signature, signed.checkpoint.signed_bytes())
    except InvalidSignature:
        raise BadCheckpoint("the signature does not verify with this public key: the "
                            "checkpoint was forged or altered") from None  # fmt: skip
