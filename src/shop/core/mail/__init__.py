"""Mail: a durable outbox and its sender. The kernel sends mail; it does not write it — contexts render
their own templates (`templates.py` helps) and put the rendered mail in the outbox.

- `outbox.py`: the `mail.outbox` table and `enqueue`, inside the caller's transaction;
- `templates.py`: `Subject:` + body text templates per language, for the contexts' own folders;
- `sender.py`: the background sender that drains the outbox;
- `delivery.py`: how a mail leaves — SMTP, or (no SMTP_HOST) `.eml` files and the console.
"""
