"""The deployment's Ed25519 key and manifest signatures."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from hypothesis import given, settings
from hypothesis import strategies as st

from audits.store.signing import (
    KEY_FILE,
    MSG_KEY_EXPOSED,
    MSG_NOT_MANIFEST,
    deployment_key,
    manifest_sha256,
    public_key_hex,
    sign_manifest,
    verify_signature,
)

MANIFEST = {"report_id": 3, "audit_run_id": 2, "body_sha256": "ab" * 32,
            "log_head": {"id": 17, "hash": "cd" * 32}, "approved_by": "casey",
            "approved_at": "2026-11-26T04:00:00+00:00"}
KEY = Ed25519PrivateKey.generate()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_is_created_in_fairpanel_home_with_private_modes_and_reused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRPANEL_HOME", str(tmp_path / "home"))
    first = deployment_key()
    path = tmp_path / "home" / KEY_FILE
    assert path == tmp_path / "home" / "keys" / "report-signing.key"
    assert (_mode(path), _mode(path.parent)) == (0o600, 0o700)
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    content = path.read_bytes()
    again = deployment_key()
    assert public_key_hex(again) == public_key_hex(first)
    assert path.read_bytes() == content  # reused, not rewritten


def test_explicit_path_and_the_pem_is_the_same_key(tmp_path: Path) -> None:
    key = deployment_key(tmp_path / "k" / "sign.key")
    loaded = serialization.load_pem_private_key((tmp_path / "k" / "sign.key").read_bytes(),
                                                password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    assert public_key_hex(loaded) == public_key_hex(key)


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sign.key"
    deployment_key(path)
    path.chmod(0o644)
    with pytest.raises(ValueError, match=re.escape(MSG_KEY_EXPOSED.format(path=path, mode=0o644))):
        deployment_key(path)


def test_a_key_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rsa.key"
    rsa = generate_private_key(public_exponent=65537, key_size=1024)
    path.write_bytes(rsa.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    with pytest.raises(ValueError, match="does not hold an Ed25519 private key"):
        deployment_key(path)
    path.write_text("not a key")
    with pytest.raises(ValueError, match="is not a readable PEM private key"):
        deployment_key(path)


def test_signature_matches_the_cryptography_oracle_on_canonical_bytes() -> None:
    signature = sign_manifest(MANIFEST, KEY)
    assert len(signature) == 128 and len(public_key_hex(KEY)) == 64
    canonical = (b'{"approved_at":"2026-11-26T04:00:00+00:00","approved_by":"casey",'
                 b'"audit_run_id":2,"body_sha256":"' + b"ab" * 32 + b'","log_head":'
                 b'{"hash":"' + b"cd" * 32 + b'","id":17},"report_id":3}')
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex(KEY)))
    public.verify(bytes.fromhex(signature), canonical)  # raises if not
    assert verify_signature(dict(reversed(list(MANIFEST.items()))), signature,
                            public_key_hex(KEY))


@pytest.mark.parametrize("change", [
    {"body_sha256": "ac" * 32}, {"approved_by": "mallory"}, {"report_id": 4},
    {"log_head": {"id": 18, "hash": "cd" * 32}}, {"extra": None},
])
def test_a_tampered_manifest_fails(change: dict[str, object]) -> None:
    signature = sign_manifest(MANIFEST, KEY)
    assert not verify_signature({**MANIFEST, **change}, signature, public_key_hex(KEY))


def test_another_key_fails_and_malformed_input_is_false_not_an_error() -> None:
    signature = sign_manifest(MANIFEST, KEY)
    other = public_key_hex(Ed25519PrivateKey.generate())
    assert not verify_signature(MANIFEST, signature, other)
    assert not verify_signature(MANIFEST, sign_manifest(MANIFEST, Ed25519PrivateKey.generate()),
                                public_key_hex(KEY))
    for bad_sig, bad_key in [("zz", public_key_hex(KEY)), (signature, "00"),
                             (signature[:-2], public_key_hex(KEY)), (signature, "")]:
        assert not verify_signature(MANIFEST, bad_sig, bad_key)
    assert not verify_signature([1, 2], signature, public_key_hex(KEY))  # type: ignore[arg-type]


def test_bad_inputs_to_signing_name_the_problem() -> None:
    with pytest.raises(ValueError, match=MSG_NOT_MANIFEST.format(type="list")):
        sign_manifest([1], KEY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        sign_manifest({"x": float("nan")}, KEY)
    with pytest.raises(TypeError, match="key must be an Ed25519PrivateKey; got str"):
        sign_manifest(MANIFEST, "key")  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=5))
def test_sign_then_verify_round_trips_and_hash_ignores_key_order(
        manifest: dict[str, object]) -> None:
    signature = sign_manifest(manifest, KEY)
    assert verify_signature(manifest, signature, public_key_hex(KEY))
    flipped = dict(reversed(list(manifest.items())))
    assert manifest_sha256(flipped) == manifest_sha256(manifest)
