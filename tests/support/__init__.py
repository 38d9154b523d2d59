"""Every helper and assertion of the tests (nothing is imported from a conftest.py):

- `app`: settings, an HTTP client for an app, cleaning up after live apps;
- `problems`: `assert_problem(response, status, code)`, the one problem+json assertion;
- `net`: `free_port()`;
- `smtp`: a real SMTP server (aiosmtpd) collecting mail;
- `factories`: signed-in users made through the real tables;
- `auth`, `users`, `localization`: request steps and bodies of each context.
"""
