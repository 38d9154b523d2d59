"""The pure part of two-step sign-in: TOTP steps and drift, recovery codes and their hashes, the QR code."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlparse
from xml.etree import ElementTree

import pyotp

from shop.auth.mfa import codes as mfa
from shop.auth.tools import hash_token, new_token

# RFC 6238 Appendix B: the SHA-1 secret "12345678901234567890", 8-digit codes at these times.
RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
RFC_VECTORS = {59: "94287082", 1111111109: "07081804", 1234567890: "89005924", 2000000000: "69279037"}


def test_codes_match_the_rfc_6238_test_vectors() -> None:
    for at, code in RFC_VECTORS.items():
        # shop uses 6 digits: the low six digits of the RFC's 8-digit values.
        assert mfa.matching_step(RFC_SECRET, code[-6:], at) == mfa.time_step(at)


def test_one_step_of_drift_either_side_and_no_more() -> None:
    secret = mfa.new_secret()
    totp = pyotp.TOTP(secret)
    at = 1_800_000_015.0
    step = mfa.time_step(at)
    for offset in (-1, 0, 1):
        code = totp.at(at, counter_offset=offset)
        assert mfa.matching_step(secret, code, at) == step + offset
    for offset in (-3, -2, 2, 3):
        code = totp.at(at, counter_offset=offset)
        if code not in {totp.at(at, counter_offset=o) for o in (-1, 0, 1)}:
            assert mfa.matching_step(secret, code, at) is None


def test_what_people_type_is_accepted_and_nothing_else() -> None:
    secret = mfa.new_secret()
    at = 1_800_000_000.0
    code = pyotp.TOTP(secret).at(at)
    assert mfa.matching_step(secret, f" {code[:3]} {code[3:]} ", at) == mfa.time_step(at)
    for junk in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦", code + "0"):
        assert mfa.matching_step(secret, junk, at) is None


def test_secrets_are_160_random_bits_in_base32() -> None:
    secrets = {mfa.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(secret) == 32
        assert pyotp.TOTP(secret).now().isdigit()


def test_the_provisioning_uri_names_issuer_and_account() -> None:
    uri = mfa.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "ada@example.com", "shop test")
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert parsed.path == "/shop%20test:ada%40example.com"
    query = parse_qs(parsed.query)
    assert query["secret"] == ["JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"]
    assert query["issuer"] == ["shop test"]
    parsed_back = pyotp.parse_uri(uri)
    assert isinstance(parsed_back, pyotp.TOTP) and parsed_back.digits == 6 and parsed_back.interval == 30


def test_the_qr_code_is_a_standalone_svg() -> None:
    svg = mfa.qr_svg(mfa.provisioning_uri(mfa.new_secret(), "ada@example.com", "shop"))
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # nothing fetched from elsewhere


def test_recovery_codes_are_ten_distinct_readable_codes() -> None:
    codes = mfa.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert len(code) == 11 and code[5] == "-"
        assert all(char in mfa.RECOVERY_ALPHABET for char in code.replace("-", ""))


def test_recovery_code_hashes_forgive_typing_and_bind_the_user() -> None:
    hasher = mfa.RecoveryCodeHasher.from_root("root secret " + "x" * 40)
    user, other = uuid.uuid4(), uuid.uuid4()
    code = "0a1b2-c3d4e"
    stored = hasher.hash(user, code)
    assert stored is not None and len(stored) == 32
    assert hasher.hash(user, " OA1B2 C3D4E ") == stored  # case, spaces, dash, O for 0
    assert hasher.hash(user, "0a1b2-c3d4f") != stored
    assert hasher.hash(other, code) != stored
    assert mfa.RecoveryCodeHasher.from_root("another root " + "y" * 40).hash(user, code) != stored
    for junk in ("", "0a1b2-c3d4", "0a1b2-c3d4e5", "0a1b2-c3d4u", "123456"):
        assert hasher.hash(user, junk) is None


def test_mfa_tokens_are_random_and_hashed() -> None:
    tokens = {new_token() for _ in range(20)}
    assert len(tokens) == 20
    token = tokens.pop()
    assert len(token) >= 43
    assert hash_token(token) == hash_token(token) != hash_token(token + "x")
