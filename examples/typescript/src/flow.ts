// The generated client against a running shop: sign-up to two-step sign-in, every answer typed.
//
//   SHOP_URL=http://127.0.0.1:8000 SHOP_MAIL_DIR=.data/mail \
//   SHOP_ADMIN_EMAIL=admin@example.com SHOP_ADMIN_PASSWORD=... node dist/src/flow.js
import { createShopClient, done, ok, refused } from "./client.js";
import { tokenFromMail } from "./mail.js";
import { currentStep, totp } from "./totp.js";

function setting(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`set ${name}`);
  return value;
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

async function main(): Promise<void> {
  const shop = createShopClient(setting("SHOP_URL"));
  const mailDir = setting("SHOP_MAIL_DIR");
  const { client } = shop;
  const email = `ts-client-${Date.now()}@example.com`;
  const password = "correct horse battery staple";

  // Sign up, and again: the second answer is a 409 whose code says why.
  const registered = ok(
    "register",
    await client.POST("/api/v1/auth/register", { body: { email, password, confirm_password: password } }),
  );
  check(registered.user_id.length === 36, "register answers the new user's id");
  const again = await client.POST("/api/v1/auth/register", {
    body: { email, password, confirm_password: password },
  });
  check(refused("register again", again, "email_taken").status === 409, "409 email_taken, switched on by code");

  // The verification mail's link holds the token.
  const token = await tokenFromMail(mailDir, email, "verify-email");
  ok("verify", await client.POST("/api/v1/auth/verify-email", { body: { token } }));
  check(true, "email verified with the token from the mail");

  const tokens = ok("login", await client.POST("/api/v1/auth/login", { body: { email, password } }));
  shop.useToken(tokens);
  const me = ok("me", await client.GET("/api/v1/auth/me"));
  check(me.email === email && me.email_verified && !me.mfa_enabled, "/me is the new, verified account");

  // Profile: a valid change, then a currency shop does not offer (422 with its own code).
  const profile = ok(
    "profile",
    await client.PATCH("/api/v1/profile", {
      body: { first_name: "Ada", last_name: "Lovelace", preferred_currency: "EUR" },
    }),
  );
  check(profile.first_name === "Ada" && profile.preferred_currency === "EUR", "profile updated");
  const unknown = await client.PATCH("/api/v1/profile", { body: { preferred_currency: "XXX" } });
  check(refused("unknown currency", unknown, "unknown_currency").status === 422, "422 unknown_currency");

  // Addresses: two, then the second made primary.
  const home = ok(
    "address",
    await client.POST("/api/v1/addresses", {
      body: {
        type: "both",
        first_name: "Ada",
        last_name: "Lovelace",
        address_line_1: "12 St James's Square",
        city: "London",
        postal_code: "SW1Y 4JH",
        country_code: "gb",
      },
    }),
  );
  check(home.is_primary && home.country_code === "GB", "first address is primary by itself");
  const office = ok(
    "address",
    await client.POST("/api/v1/addresses", {
      body: {
        type: "both",
        first_name: "Ada",
        last_name: "Lovelace",
        company: "Analytical Engines Ltd",
        address_line_1: "1 Infinite Loop",
        city: "Cupertino",
        region: "CA",
        postal_code: "95014",
        country_code: "US",
      },
    }),
  );
  check(!office.is_primary, "second address is not primary");
  const primary = ok(
    "make primary",
    await client.POST("/api/v1/addresses/{address_id}/primary", {
      params: { path: { address_id: office.id } },
    }),
  );
  check(primary.is_primary, "second address made primary");
  const addresses = ok("addresses", await client.GET("/api/v1/addresses"));
  check(
    addresses.length === 2 && addresses[0]?.id === office.id && addresses[1]?.is_primary === false,
    "the primary address is listed first, the other lost primary",
  );

  // Money: an admin seeds a rate, anyone converts; a malformed amount is a 422 validation_error.
  const admin = createShopClient(setting("SHOP_URL"));
  admin.useToken(
    ok(
      "admin login",
      await admin.client.POST("/api/v1/auth/login", {
        body: { email: setting("SHOP_ADMIN_EMAIL"), password: setting("SHOP_ADMIN_PASSWORD") },
      }),
    ),
  );
  const rate = { from: "EUR", to: "JPY", rate: "160.5", effective_date: "2026-01-02T15:00:00Z" };
  const seeded = await admin.client.POST("/api/v1/admin/exchange-rates", { body: rate });
  if (seeded.error !== undefined) refused("seed rate", seeded, "rate_exists"); // seeded by an earlier run
  check(true, "EUR→JPY rate seeded through the admin API");
  const converted = ok(
    "convert",
    await client.GET("/api/v1/convert", { params: { query: { from: "EUR", to: "JPY", amount: "10.50" } } }),
  );
  check(converted.converted_amount === "1685" && converted.rate === "160.5", "10.50 EUR is 1685 JPY");
  const malformed = await client.GET("/api/v1/convert", {
    params: { query: { from: "EUR", to: "JPY", amount: "ten" } },
  });
  const invalid = refused("malformed amount", malformed, "validation_error");
  check(
    invalid.errors?.some((issue) => issue.loc.includes("amount")) === true,
    "422 validation_error names the field",
  );

  // Two-step sign-in: enrol an authenticator (our TOTP), then sign in with password and code.
  const setup = ok("mfa setup", await client.POST("/api/v1/auth/mfa/totp/setup", { body: { password } }));
  const step = currentStep();
  const recovery = ok(
    "mfa confirm",
    await client.POST("/api/v1/auth/mfa/totp/confirm", { body: { code: totp(setup.secret, step) } }),
  );
  check(recovery.recovery_codes.length === 10, "two-step sign-in on, ten recovery codes");

  const first = await client.POST("/api/v1/auth/login", { body: { email, password } });
  const challenge = refused("login with two-step sign-in", first, "mfa_required");
  // The problem's `code` names what /login can answer: switching on it narrows the problem to the
  // 403 whose extension members (RFC 9457) `mfa_token` and `methods` are typed.
  let mfaToken: string;
  switch (challenge.code) {
    case "mfa_required":
      if (challenge.mfa_token === undefined || !challenge.methods?.includes("totp")) {
        throw new Error("mfa_required without an mfa_token or TOTP among its methods");
      }
      mfaToken = challenge.mfa_token;
      break;
    default:
      throw new Error(`login with two-step sign-in: ${challenge.code}`);
  }
  // A code is accepted once: the next time step's code (within the allowed drift) signs in.
  const second = ok(
    "mfa verify",
    await client.POST("/api/v1/auth/mfa/verify", {
      body: { mfa_token: mfaToken, code: totp(setup.secret, step + 1) },
    }),
  );
  shop.useToken(second);
  const after = ok("me", await client.GET("/api/v1/auth/me"));
  check(after.mfa_enabled, "signed in with password and TOTP code; /me says two-step sign-in is on");

  done("logout", await client.POST("/api/v1/auth/logout"));
  const gone = await client.GET("/api/v1/auth/me");
  check(refused("after logout", gone, "token_revoked").status === 401, "after logout the token is refused");
  console.log("all steps passed");
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
