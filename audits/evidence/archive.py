"""The signed archive of an evidence pack: one ZIP file that proves its own integrity.

The archive holds ``manifest.json`` (every other file's sha256 and size, and what the
pack is of), ``signature.json`` (the Ed25519 signature of the manifest's canonical JSON,
the public key and its fingerprint), then the files, in sorted order. It is written in
one canonical form: stored (not compressed), fixed timestamps and permissions. So
:func:`verify_archive` can check, besides every file's hash and the signature, that the
archive is byte for byte the canonical archive of its own contents: a change to any byte
(a file, the manifest, the signature, or the ZIP's own headers and directory) fails.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audits.store.checkpoints import fingerprint
from audits.store.log import canonical_json
from audits.store.signing import public_key_hex, sign_manifest, verify_signature

__all__ = ["MANIFEST", "PACK_KIND", "SIGNATURE", "ArchiveVerification", "read_archive",
           "verify_archive", "write_archive"]

MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
PACK_KIND = "fairpanel-evidence-pack"
#: The ZIP timestamp of every member (the earliest a ZIP can hold): the archive's
#: bytes depend on its contents only.
EPOCH = (1980, 1, 1, 0, 0, 0)
MSG_RESERVED = "file name {name!r} is reserved for the pack's manifest or signature"
MSG_BAD_NAME = "file name {name!r} must be a relative POSIX path without '..'"


@dataclass(frozen=True)
class ArchiveVerification:
    """The checks of :func:`verify_archive`, in order; ``ok`` when all passed."""

    checks: tuple[tuple[str, bool, str], ...]
    manifest: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return bool(self.checks) and all(passed for _, passed, _ in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """``{"ok", "checks": [{"check", "ok", "detail"}], "manifest"}``."""
        return {"ok": self.ok,
                "checks": [{"check": c, "ok": p, "detail": d} for c, p, d in self.checks],
                "manifest": self.manifest}


def write_archive(files: Mapping[str, bytes], about: Mapping[str, Any],
                  key: Ed25519PrivateKey) -> bytes:
    """Return the signed canonical archive of ``files`` (name -> bytes).

    ``about`` (JSON) goes into the manifest beside the files' hashes.

    Examples
    --------
    >>> key = Ed25519PrivateKey.generate()
    >>> data = write_archive({"a.txt": b"hello"}, {"release": "r1"}, key)
    >>> verify_archive(data).ok
    True
    >>> verify_archive(data.replace(b"hello", b"jello")).ok
    False
    """
    for name in files:
        _check_name(name)
    manifest = {"kind": PACK_KIND, "format": 1, **dict(about),
                "files": {name: {"sha256": hashlib.sha256(body).hexdigest(),
                                 "bytes": len(body)} for name, body in sorted(files.items())}}
    public = public_key_hex(key)
    signature = {"signature": sign_manifest(manifest, key), "public_key": public,
                 "key_fingerprint": fingerprint(public)}
    members = {MANIFEST: _json(manifest), SIGNATURE: _json(signature), **files}
    return _canonical(members)


def read_archive(data: bytes) -> dict[str, bytes]:
    """Return the members of an archive, name -> bytes (raises ``zipfile.BadZipFile``)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def verify_archive(data: bytes, *, expected_fingerprint: str | None = None,
                   ) -> ArchiveVerification:
    """Check an archive: readable, canonical, complete, every hash, the signature.

    ``expected_fingerprint`` (the deployment key's, as published) is compared with the
    key that signed; without it the signature proves integrity, not who signed.
    """
    checks: list[tuple[str, bool, str]] = []
    try:
        members = read_archive(data)
    except Exception as error:  # noqa: BLE001 - any unreadable archive fails, never crashes
        # zipfile raises many kinds on a damaged archive (BadZipFile, RuntimeError for a
        # flipped encryption flag, zlib.error, EOFError, ...): each is a failed check.
        return ArchiveVerification((("readable", False, f"not a readable ZIP: {error}"),),
                                   None)
    checks.append(("readable", True, f"{len(members)} files"))
    manifest, signature = _load(members, MANIFEST), _load(members, SIGNATURE)
    canonical = _canonical_of(members)
    checks.append(("canonical", canonical == data,
                   "the bytes are the canonical archive of its contents" if canonical == data
                   else "the archive's bytes differ from the canonical archive of its "
                        "contents (headers, order, timestamps or padding changed)"))
    if manifest is None or signature is None:
        checks.append(("manifest", False, "manifest.json or signature.json missing or not "
                                          "JSON"))
        return ArchiveVerification(tuple(checks), manifest)
    checks.append(_check_files(members, manifest))
    checks.append(_check_signature(manifest, signature))
    if expected_fingerprint is not None:
        found = str(signature.get("key_fingerprint", ""))
        same = found.replace(":", "").lower() == expected_fingerprint.replace(":", "").lower()
        checks.append(("key", same, f"signed by key {found}" + (
            "" if same else f", expected {expected_fingerprint}")))
    return ArchiveVerification(tuple(checks), manifest)


def _check_files(members: Mapping[str, bytes],
                 manifest: Mapping[str, Any]) -> tuple[str, bool, str]:
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        return "files", False, "the manifest lists no files"
    present = set(members) - {MANIFEST, SIGNATURE}
    if present != set(listed):
        extra, missing = sorted(present - set(listed)), sorted(set(listed) - present)
        return "files", False, f"files not as listed: extra {extra}, missing {missing}"
    for name in sorted(listed):
        entry = listed[name] if isinstance(listed[name], dict) else {}
        digest = hashlib.sha256(members[name]).hexdigest()
        if digest != entry.get("sha256") or len(members[name]) != entry.get("bytes"):
            return "files", False, f"{name}: sha256 {digest} differs from the manifest's"
    return "files", True, f"{len(listed)} files match the manifest's sha256s"


def _check_signature(manifest: Mapping[str, Any],
                     signature: Mapping[str, Any]) -> tuple[str, bool, str]:
    public = str(signature.get("public_key", ""))
    valid = verify_signature(manifest, str(signature.get("signature", "")), public)
    try:
        print_ = fingerprint(public)
    except ValueError:
        return "signature", False, "the public key is malformed"
    if print_ != signature.get("key_fingerprint"):
        return "signature", False, "the key fingerprint does not match the public key"
    return ("signature", valid, f"Ed25519 signature of the manifest by key {print_}"
            if valid else "the signature does not match the manifest")


def _canonical_of(members: Mapping[str, bytes]) -> bytes:
    first = {n: members[n] for n in (MANIFEST, SIGNATURE) if n in members}
    rest = {n: b for n, b in members.items() if n not in first}
    try:
        return _canonical({**first, **rest})
    except ValueError:
        return b""


def _canonical(members: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    order = [n for n in (MANIFEST, SIGNATURE) if n in members]
    order += sorted(n for n in members if n not in (MANIFEST, SIGNATURE))
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in order:
            _check_name(name, reserved_ok=name in (MANIFEST, SIGNATURE))
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.create_system, info.external_attr = 3, 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, members[name])
    return buffer.getvalue()


def _check_name(name: str, *, reserved_ok: bool = False) -> None:
    if name in (MANIFEST, SIGNATURE) and not reserved_ok:
        raise ValueError(MSG_RESERVED.format(name=name))
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or any(p in ("", "..", ".")
                                                                for p in parts):
        raise ValueError(MSG_BAD_NAME.format(name=name))


def _load(members: Mapping[str, bytes], name: str) -> dict[str, Any] | None:
    try:
        value = json.loads(members[name].decode("utf-8"))
    except (KeyError, UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _json(value: Any) -> bytes:
    return (canonical_json(value) + "\n").encode("utf-8")
