"""Every helper and assertion of the tests (nothing is imported from a conftest.py), one of each,
one module per concern:

- `app`: settings, building and running an app in-process (`running_app`, behind the conftest's
  `app_with(**settings)` fixture; `offline_app()` for routes and the OpenAPI document), an HTTP
  client for an app, cleaning up after live apps;
- `serve`: `ShopServer`, a real `shop serve` process, and `shop_env`, the environment of every shop
  process a test starts; signing up through a real server and its mail;
- `databases`: databases of their own (`temporary_database`, `database_factory`), SQL from a
  synchronous test;
- `waiting`: `wait_until` (and `wait_until_async`), the one poll-until-there loop;
- `ci`: `unavailable(reason)`, skip outside CI and fail under CI; `require(tool)`;
- `problems`: `assert_problem(response, status, code)`, the one problem+json assertion;
- `net`: `free_port()` and how long tests wait;
- `smtp`: a real SMTP server (aiosmtpd) collecting mail; `redis_server`: a real Redis to stop;
- `factories`: signed-in users made through the real tables;
- `auth`, `users`, `localization`, `mfa`, `webauthn`, `oidc`, `webhooks`, `browser`: request steps,
  bodies and doubles of each context.
"""
