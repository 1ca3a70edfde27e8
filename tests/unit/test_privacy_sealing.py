"""Sealing under a customer's data key, wrapping under the master key, retention periods."""

from __future__ import annotations

import os

import pytest

from missiva.paths import INCLUDE_DIR, TEMPLATES_DIR
from missiva.privacy.keys import DataKey, KeyUnwrapError, unwrap, wrap
from missiva.privacy.master_key import MasterKey
from missiva.privacy.retention import Retention, period
from missiva.privacy.sealing import MAGIC, address_of, key_id_of, seal, unseal
from missiva.records.artifacts import ArtifactIntegrityError

KEY = DataKey("0" * 31 + "1", "C000001", os.urandom(32))
LETTER = b"%PDF-1.7 Dear Maria Rossi, via Roma 1"


def test_sealing_hides_the_content_and_opens_with_the_key() -> None:
    sealed = seal(KEY, LETTER)
    assert sealed.startswith(MAGIC) and b"Maria" not in sealed
    assert key_id_of(sealed) == KEY.key_id
    assert unseal(KEY, sealed) == LETTER
    assert seal(KEY, LETTER) == sealed, "the same bytes seal to the same object (idempotent put)"
    assert seal(KEY, LETTER + b".")[28:40] != sealed[28:40], "other bytes, another nonce"


def test_a_tampered_object_or_another_key_does_not_open() -> None:
    sealed = bytearray(seal(KEY, LETTER))
    sealed[-1] ^= 1
    with pytest.raises(ArtifactIntegrityError):
        unseal(KEY, bytes(sealed))
    other = DataKey(KEY.key_id, "C000002", os.urandom(32))
    with pytest.raises(ArtifactIntegrityError):
        unseal(other, seal(KEY, LETTER))
    assert key_id_of(LETTER) is None


def test_a_data_key_unwraps_only_under_its_master_key() -> None:
    old, new = MasterKey.of("old secret"), MasterKey.of("new secret")
    wrapped = wrap(old, KEY.key_id, KEY.key)
    assert unwrap(old, KEY.key_id, wrapped) == KEY.key
    with pytest.raises(KeyUnwrapError, match=new.id):
        unwrap(new, KEY.key_id, wrapped)
    with pytest.raises(KeyUnwrapError):  # bound to its key id
        unwrap(old, "f" * 32, wrapped)
    assert old.id != new.id and len(old.key) == 32


def test_address_of_a_content_addressed_uri() -> None:
    hex_ = "ab" * 32
    assert address_of(f"s3://bucket/prefix/sha256/ab/{hex_}") == hex_
    assert address_of(f"file:///var/archive/sha256/ab/{hex_}") == hex_
    assert address_of("file:///var/archive/not-an-address") is None


def test_retention_periods() -> None:
    assert period("10y", "x").days == 3650 and period("6m", "x").days == 180
    for bad in ("10", "0y", "1w", "ten years"):
        with pytest.raises(ValueError, match="is not a period"):
            period(bad, "retention.toml")


def test_every_communication_has_a_retention_period() -> None:
    retention = Retention.load(INCLUDE_DIR / "retention.toml")
    names = {p.name for p in (TEMPLATES_DIR / "communications").iterdir() if p.is_dir()}
    assert names <= set(retention.communications), names - set(retention.communications)
