"""The deployment's report-signing key and the signature of an approved report's manifest.

One Ed25519 key per deployment lives in ``$FAIRPANEL_HOME/keys/report-signing.key``
(PEM, readable by its owner only). It is created on first use and reused after; the
public half is stored with every approved report, so a report signed by an earlier key
still verifies after the key is replaced. A signature covers the canonical JSON of the
manifest (:func:`audits.store.log.canonical_json`), so key order and spacing never
matter, but every value does.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from audits.store.db import data_dir
from audits.store.log import canonical_json

__all__ = [
    "KEY_FILE",
    "deployment_key",
    "manifest_sha256",
    "public_key_hex",
    "sign_manifest",
    "verify_signature",
]

#: Where the key lives, relative to fairpanel's data folder.
KEY_FILE = Path("keys") / "report-signing.key"

MSG_NOT_ED25519 = "{path} does not hold an Ed25519 private key (got {kind})"
MSG_BAD_KEY_FILE = "{path} is not a readable PEM private key: {error}"
MSG_KEY_EXPOSED = (
    "{path} is readable by other users (mode {mode:o}); restrict it with chmod 600"
)
MSG_NOT_KEY = "key must be an Ed25519PrivateKey; got {type}"
MSG_NOT_MANIFEST = "manifest must be a dict with string keys; got {type}"


def deployment_key(path: str | os.PathLike[str] | None = None) -> Ed25519PrivateKey:
    """Return the deployment's signing key, creating it on first use.

    Parameters
    ----------
    path : path-like or None, default None
        The key file; None uses ``data_dir() / KEY_FILE`` (``$FAIRPANEL_HOME`` when
        set). A new file is written with mode 0600 in a folder of mode 0700.

    Returns
    -------
    Ed25519PrivateKey

    Raises
    ------
    ValueError
        The file is not an unencrypted PEM Ed25519 key, or other users may read it.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     first = deployment_key(f"{folder}/keys/k.key")
    ...     public_key_hex(first) == public_key_hex(deployment_key(f"{folder}/keys/k.key"))
    True
    """
    key_path = Path(path) if path is not None else data_dir() / KEY_FILE
    if not key_path.exists():
        _create(key_path)
    return _load(key_path)


def public_key_hex(key: Ed25519PrivateKey) -> str:
    """Return the raw 32-byte public key of ``key`` as 64 hex characters.

    Examples
    --------
    >>> len(public_key_hex(Ed25519PrivateKey.generate()))
    64
    """
    public = _check_key(key).public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def sign_manifest(manifest: Mapping[str, Any], key: Ed25519PrivateKey) -> str:
    """Return the hex Ed25519 signature (128 characters) of ``canonical_json(manifest)``.

    Raises
    ------
    ValueError
        The manifest is not a JSON object (string keys, JSON values only).

    Examples
    --------
    >>> key = Ed25519PrivateKey.generate()
    >>> signature = sign_manifest({"report_id": 1}, key)
    >>> verify_signature({"report_id": 1}, signature, public_key_hex(key))
    True
    """
    message = _message(manifest)
    return _check_key(key).sign(message).hex()


def verify_signature(manifest: Mapping[str, Any], signature_hex: str,
                     public_key_hex: str) -> bool:
    """Return True when ``signature_hex`` signs ``manifest`` under ``public_key_hex``.

    Any malformed input (not hex, wrong length, not a JSON object) gives False, never
    an exception: a verifier reports, it does not crash on a tampered file.

    Examples
    --------
    >>> key = Ed25519PrivateKey.generate()
    >>> signature = sign_manifest({"report_id": 1}, key)
    >>> verify_signature({"report_id": 2}, signature, public_key_hex(key))
    False
    """
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        public.verify(bytes.fromhex(signature_hex), _message(manifest))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def manifest_sha256(manifest: Mapping[str, Any]) -> str:
    """Return the sha256 hex digest of ``canonical_json(manifest)``.

    Examples
    --------
    >>> manifest_sha256({"b": 1, "a": 2}) == manifest_sha256({"a": 2, "b": 1})
    True
    """
    return hashlib.sha256(_message(manifest)).hexdigest()


def _message(manifest: Mapping[str, Any]) -> bytes:
    if not isinstance(manifest, Mapping) or not all(isinstance(k, str) for k in manifest):
        raise ValueError(MSG_NOT_MANIFEST.format(type=type(manifest).__name__))
    return canonical_json(dict(manifest)).encode("utf-8")


def _check_key(key: object) -> Ed25519PrivateKey:
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(MSG_NOT_KEY.format(type=type(key).__name__))
    return key


def _create(key_path: Path) -> None:
    if not key_path.parent.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.parent.chmod(0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    try:
        # O_EXCL: two processes creating the key at once keep the first one written.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def _load(key_path: Path) -> Ed25519PrivateKey:
    mode = stat.S_IMODE(key_path.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        raise ValueError(MSG_KEY_EXPOSED.format(path=key_path, mode=mode))
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise ValueError(MSG_BAD_KEY_FILE.format(path=key_path, error=error)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(MSG_NOT_ED25519.format(path=key_path, kind=type(key).__name__))
    return key
