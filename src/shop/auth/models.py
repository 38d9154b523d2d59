"""ORM classes of the auth context (schema `auth`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    exists,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB, aggregate_order_by
from sqlalchemy.orm import Mapped, column_property, mapped_column

from shop.core.db import Base

SCHEMA = "auth"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # Emails are stored lower-cased; the index makes uniqueness case-insensitive regardless.
        Index("uq_users_email_lower", text("lower(email)"), unique=True),
        CheckConstraint("role in ('customer', 'admin')", name="role"),
        {"schema": SCHEMA},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    email: Mapped[str] = mapped_column(String(320))
    # None: an account made by another provider, until its owner sets a password by reset.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email_verified: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    role: Mapped[str] = mapped_column(String(16), server_default="customer")
    failed_login_count: Mapped[int] = mapped_column(Integer, server_default="0")
    lockout_count: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    if TYPE_CHECKING:
        mfa_enabled: bool  # below: whether a confirmed TOTP factor exists
        has_password: bool  # below
        identities: list[str]  # below: the names of the linked providers
        passkeys: int  # below: how many passkeys the account holds


class Session(Base):
    """A login: the family of refresh tokens that rotate from it, and its access tokens."""

    __tablename__ = "sessions"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip: Mapped[str | None] = mapped_column(INET)
    # How the user signed in (RFC 8176 `amr`): every access token of the session carries it, refreshes
    # included, so a session started with a second step stays one.
    amr: Mapped[list[str]] = mapped_column(ARRAY(String(16)), default=lambda: ["pwd"])


class RefreshToken(Base):
    """Every refresh token a session has issued, stored as SHA-256; `rotated_at` marks spent ones."""

    __tablename__ = "refresh_tokens"
    __table_args__ = {"schema": SCHEMA}

    token_hash: Mapped[bytes] = mapped_column(primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.sessions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EmailToken(Base):
    """Verification and password-reset tokens, stored as SHA-256, single use."""

    __tablename__ = "email_tokens"
    __table_args__ = (
        CheckConstraint("purpose in ('verify', 'reset')", name="purpose"),
        {"schema": SCHEMA},
    )

    token_hash: Mapped[bytes] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EmailLinkRequest(Base):
    """An ask for a verification or reset link, for any email: the request only records it, so it
    does the same work whether or not the account exists. `AuthUpkeep` fulfils it moments later —
    a token and a mail when there is someone to write to — and deletes the row either way."""

    __tablename__ = "email_link_requests"
    __table_args__ = (
        CheckConstraint("purpose in ('verify', 'reset')", name="purpose"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # For the audit row written when the ask is fulfilled.
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(512))


class AuditEvent(Base):
    """Security-relevant events. No foreign key: the trail outlives a deleted account."""

    __tablename__ = "audit_events"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    event: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(512))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class TotpFactor(Base):
    """A user's authenticator. `enabled_at` is null while a setup waits for its first code."""

    __tablename__ = "totp_factors"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), primary_key=True
    )
    # The base32 secret, sealed (AES-256-GCM, a key derived from JWT_SECRET_KEY): never stored plain.
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The latest time step accepted: a code is accepted once, and never one of an earlier step.
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(Base):
    """Single-use recovery codes, stored as argon2id hashes (PHC strings, each with its own salt; codes
    made before, as keyed HMACs: see `mfa.is_legacy_recovery_hash`); `used_at` marks spent ones."""

    __tablename__ = "recovery_codes"
    __table_args__ = {"schema": SCHEMA}

    code_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MfaChallenge(Base):
    """The second step of a login: a password was right, a code is awaited. Token stored as SHA-256."""

    __tablename__ = "mfa_challenges"
    __table_args__ = {"schema": SCHEMA}

    token_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), index=True
    )
    # The client address of the login: the token works from there only.
    ip: Mapped[str | None] = mapped_column(INET)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    spent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # How the first step signed in (`pwd`, or `fed` for another provider): the session made by the
    # second step carries it with `otp`.
    first_factor: Mapped[str] = mapped_column(String(16), server_default="pwd")


# Loaded with every user: login decides on it, /me and the admin listing show it.
User.mfa_enabled = column_property(  # type: ignore[assignment]
    exists().where(TotpFactor.user_id == User.id, TotpFactor.enabled_at.is_not(None))
)


class SigningKey(Base):
    """A key pair that signs access tokens (EdDSA, ES256, RS256): the private half sealed with a key
    derived from JWT_SECRET_KEY. The partial unique indexes let no rotation leave two active or two
    next keys, whatever instances race."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        CheckConstraint("state in ('next', 'active', 'retired')", name="state"),
        CheckConstraint("alg in ('EdDSA', 'ES256', 'RS256')", name="alg"),
        Index("uq_signing_keys_one_active", "state", unique=True, postgresql_where=text("state = 'active'")),
        Index("uq_signing_keys_one_next", "state", unique=True, postgresql_where=text("state = 'next'")),
        {"schema": SCHEMA},
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(8))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EmailChange(Base):
    """An ask to move an account to another address: the link's token stored as SHA-256, single use.
    A newer ask spends the older ones; a confirmed one stays (with both addresses) as long as the
    account does, so that deleting the account can find every mail sent to either address."""

    __tablename__ = "email_changes"
    __table_args__ = {"schema": SCHEMA}

    token_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), index=True
    )
    old_email: Mapped[str] = mapped_column(String(320))
    new_email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# -- sign-in with other providers (OpenID Connect) ---------------------------------------------------


class LinkedIdentity(Base):
    """An account at another provider linked to an account here: the pair (provider, `sub`). Its
    email is what the provider said at linking, for the owner's eyes; it decides nothing."""

    __tablename__ = "identities"
    __table_args__ = (
        Index("uq_identities_provider_subject", "provider", "subject", unique=True),
        {"schema": SCHEMA},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OidcState(Base):
    """A sign-in or link under way at a provider: the `state` stored as SHA-256, single use, bound to
    the provider and (to link) to the account; the nonce, the PKCE verifier towards the provider
    (sealed), and what the browser's start asked (where to come back, the SPA's own challenge)."""

    __tablename__ = "oidc_states"
    __table_args__ = (
        CheckConstraint("intent in ('sign_in', 'link')", name="intent"),
        {"schema": SCHEMA},
    )

    state_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    intent: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), index=True
    )
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[bytes] = mapped_column(LargeBinary)
    redirect_to: Mapped[str] = mapped_column(String(2048))
    code_challenge: Mapped[str] = mapped_column(String(128))
    accept_language: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class OidcCode(Base):
    """The one-time code a provider sign-in hands the SPA (stored as SHA-256, 60 s), exchanged once
    with the verifier of the SPA's own challenge."""

    __tablename__ = "oidc_codes"
    __table_args__ = {"schema": SCHEMA}

    code_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    code_challenge: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


# Loaded with every user, as two-step sign-in is: /me and the admin listing show them.
User.has_password = column_property(User.password_hash.is_not(None))  # type: ignore[assignment]
User.identities = column_property(  # type: ignore[assignment]
    select(
        func.coalesce(
            func.array_agg(aggregate_order_by(LinkedIdentity.provider, LinkedIdentity.provider)), text("'{}'")
        )
    )
    .where(LinkedIdentity.user_id == User.id)
    .correlate_except(LinkedIdentity)
    .scalar_subquery()
)


class PasskeyUser(Base):
    """The WebAuthn user handle (`user.id`) of an account: 32 random bytes, neither its id nor its email,
    made the first time the account asks to add a passkey."""

    __tablename__ = "passkey_users"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), primary_key=True
    )
    handle: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PasskeyChallenge(Base):
    """A WebAuthn challenge, stored as SHA-256: single use, valid 5 minutes. A registration challenge
    belongs to the account that asked for it; a sign-in challenge to nobody (discoverable sign-in)."""

    __tablename__ = "passkey_challenges"
    __table_args__ = (
        CheckConstraint("purpose in ('register', 'authenticate')", name="purpose"),
        CheckConstraint("purpose = 'authenticate' or user_id is not null", name="register_has_user"),
        {"schema": SCHEMA},
    )

    challenge_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    spent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Passkey(Base):
    """A WebAuthn credential of an account. The credential id is unique across all accounts."""

    __tablename__ = "passkeys"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), index=True
    )
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    # The COSE_Key as the authenticator gave it (the library decodes it at each sign-in).
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    transports: Mapped[list[str]] = mapped_column(ARRAY(String(16)), server_default="{}")
    backup_eligible: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    backed_up: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    aaguid: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# Loaded with every user, as `mfa_enabled`: /me and the admin listing show it.
User.passkeys = column_property(  # type: ignore[assignment]
    select(func.count()).where(Passkey.user_id == User.id).correlate_except(Passkey).scalar_subquery()
)
