"""The mails auth sends, as structure only: a subject and the paragraphs of the body, each a message
of the `mail` catalog (named by its English text), said in the recipient's language with its values
filled in by name. The link stands alone on its line, untranslated, so that mail clients find it."""

from __future__ import annotations

from dataclasses import dataclass

from shop.auth.catalogs import MAIL, N_
from shop.core.mail.outbox import RenderedMail


@dataclass(frozen=True, slots=True)
class Mail:
    subject: str
    paragraphs: tuple[str, ...]


GREETING = N_("Hello,")
# Not a message: the link's own line.
LINK = "{link}"

MAILS: dict[str, Mail] = {
    "email_change_confirm": Mail(
        N_("Confirm your new email address"),
        (
            GREETING,
            N_(
                "Someone asked to move a shop account to this address. To make this address the account's, open this link:"
            ),
            LINK,
            N_(
                "The link is valid for {hours} hours. If it was not you, ignore this message: nothing changes."
            ),
        ),
    ),
    "email_change_requested": Mail(
        N_("A change of your email address was asked for"),
        (
            GREETING,
            N_(
                "Someone signed in to your account asked to change its email address. The change is made only when the link sent to the new address is opened; until then, your account keeps this address."
            ),
            N_(
                "If it was not you, sign in and change your password at once: that cancels the change and signs out every other device. Then contact us."
            ),
        ),
    ),
    "email_change_taken": Mail(
        N_("Someone tried to use this address for a second account"),
        (
            GREETING,
            N_(
                "Someone asked to move another shop account to this address. This address already belongs to an account, so nothing was changed."
            ),
            N_(
                "If it was you, sign in to the account this address already has. If it was not you, you can ignore this message."
            ),
        ),
    ),
    "email_changed": Mail(
        N_("Your email address was changed"),
        (
            GREETING,
            N_(
                "The email address of your shop account was changed: from now on, mail about the account goes to the new address, and this address no longer signs in."
            ),
            N_("If it was not you, contact us at once."),
        ),
    ),
    "identity_linked": Mail(
        N_("A sign-in provider was linked to your account"),
        (
            GREETING,
            N_("{provider} was linked to your account: you can now sign in with it."),
            N_(
                "If it was not you, sign in, remove it under your account's sign-in methods, change your password and sign out every other device."
            ),
        ),
    ),
    "identity_unlinked": Mail(
        N_("A sign-in provider was removed from your account"),
        (
            GREETING,
            N_("{provider} was removed from your account: it no longer signs you in."),
            N_("If it was not you, sign in, change your password and sign out every other device."),
        ),
    ),
    "mfa_disabled": Mail(
        N_("Two-step sign-in is off"),
        (
            GREETING,
            N_(
                "Two-step sign-in was turned off for your account: signing in now asks for your password only. Every other device was signed out."
            ),
            N_(
                "If it was not you, reset your password at once, turn two-step sign-in on again and contact us."
            ),
        ),
    ),
    "mfa_enabled": Mail(
        N_("Two-step sign-in is on"),
        (
            GREETING,
            N_(
                "Two-step sign-in was turned on for your account: from now on, signing in asks for a code from your authenticator app after your password. Every other device was signed out."
            ),
            N_("Keep your recovery codes somewhere safe: each one lets you in once if you lose your device."),
            N_("If it was not you, reset your password at once and contact us."),
        ),
    ),
    "mfa_reset_by_admin": Mail(
        N_("Two-step sign-in was turned off by an administrator"),
        (
            GREETING,
            N_(
                "An administrator turned off two-step sign-in for your account, as asked when an authenticator device is lost. Signing in now asks for your password only; your recovery codes no longer work."
            ),
            N_(
                "Turn two-step sign-in on again from your account once you can. If you did not ask for this, reset your password at once and contact us."
            ),
        ),
    ),
    "passkey_added": Mail(
        N_("A passkey was added to your account"),
        (
            GREETING,
            N_(
                'A passkey named "{passkey}" was added to your account: it can now sign in without your password.'
            ),
            N_(
                "If it was not you, remove it from your account at once, change your password and contact us."
            ),
        ),
    ),
    "passkey_removed": Mail(
        N_("A passkey was removed from your account"),
        (
            GREETING,
            N_('The passkey named "{passkey}" was removed from your account: it can no longer sign in.'),
            N_("If it was not you, change your password at once and contact us."),
        ),
    ),
    "password_changed": Mail(
        N_("Your password was changed"),
        (
            GREETING,
            N_("The password of your account was just changed. Every other device was signed out."),
            N_(
                'If it was not you, ask for a new password at once from the sign-in page ("Forgot your password?") and contact us.'
            ),
        ),
    ),
    "reset_password": Mail(
        N_("Reset your password"),
        (
            GREETING,
            N_(
                "Someone asked to reset the password of your account. To choose a new password, open this link:"
            ),
            LINK,
            N_(
                "The link is valid for {minutes} minutes. If it was not you, ignore this message; your password stays as it is."
            ),
        ),
    ),
    "verify_email": Mail(
        N_("Confirm your email address"),
        (
            GREETING,
            N_("Please confirm your email address by opening this link:"),
            LINK,
            N_("The link is valid for {hours} hours. If you did not create an account, ignore this message."),
        ),
    ),
}


def render_mail(name: str, language: str, **values: str) -> RenderedMail:
    """Mail `name` in `language` (a shipped language, else English), `values` filled in by name."""
    mail, catalog = MAILS[name], MAIL.translations(language)
    paragraphs = (part if part == LINK else catalog.gettext(part) for part in mail.paragraphs)
    body = "\n\n".join(part.format_map(values) for part in paragraphs)
    return RenderedMail(subject=catalog.gettext(mail.subject).format_map(values), body=body + "\n")
