"""SecretBox: sealed values open only with the same root secret and purpose, and never show the plaintext."""

from __future__ import annotations

import pytest

from shop.core.secretbox import SecretBox, SecretBoxError

ROOT = "root-secret-" + "r" * 40


def test_round_trip_and_fresh_nonce() -> None:
    box = SecretBox(ROOT, "totp")
    first, second = box.seal(b"JBSWY3DPEHPK3PXP"), box.seal(b"JBSWY3DPEHPK3PXP")
    assert first != second
    assert b"JBSWY3DPEHPK3PXP" not in first
    assert box.open(first) == box.open(second) == b"JBSWY3DPEHPK3PXP"


@pytest.mark.parametrize(
    ("root", "purpose"),
    [("another-root-" + "x" * 40, "totp"), (ROOT, "signing-key")],
    ids=["root", "purpose"],
)
def test_another_key_or_purpose_does_not_open(root: str, purpose: str) -> None:
    sealed = SecretBox(ROOT, "totp").seal(b"secret")
    with pytest.raises(SecretBoxError):
        SecretBox(root, purpose).open(sealed)


def test_tampered_or_truncated_values_do_not_open() -> None:
    box = SecretBox(ROOT, "totp")
    sealed = bytearray(box.seal(b"secret"))
    sealed[-1] ^= 1
    for bad in (bytes(sealed), b"", b"\x01short", b"\x02" + bytes(sealed[1:])):
        with pytest.raises(SecretBoxError):
            box.open(bad)
