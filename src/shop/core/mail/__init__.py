"""Mail: a durable outbox and its sender. The kernel sends mail; it does not write it — contexts render
their own mails (from their own message catalogs) and put the rendered mail in the outbox.

- `outbox.py`: the `mail.outbox` table and `enqueue`, inside the caller's transaction;
- `sender.py`: the background sender that drains the outbox;
- `delivery.py`: how a mail leaves — SMTP, or (no SMTP_HOST) `.eml` files and the console.
"""
