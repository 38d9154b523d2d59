// Switching on the `code` of a problem, with the types @hey-api/openapi-ts generates from
// docs/openapi.json: each operation's problems name the codes it can answer, status by status, so
// the compiler checks that a switch handles every one of them (and the extension members it reads).
import type { AuthLoginError, AuthTokenError } from "../generated/hey-api/types.gen.js";

/** What a sign-in client does with each refusal of `/login`. */
export function loginRefusal(problem: AuthLoginError): string {
  switch (problem.code) {
    case "mfa_required":
      return `second step: send ${problem.methods?.join(" or ") ?? "a code"} with the mfa_token`;
    case "invalid_credentials":
      return "wrong email or password";
    case "email_not_verified":
      return "verify the address first";
    case "account_disabled":
      return "the account is disabled";
    case "csrf_failed":
      return "cookie mode: a sign-in from another site is refused";
    case "account_locked":
      return "locked: wait Retry-After seconds";
    case "rate_limited":
      return "too many attempts: wait Retry-After seconds";
    case "validation_error":
      return `invalid: ${problem.errors?.map((issue) => issue.loc.join(".")).join(", ") ?? ""}`;
    case "payload_too_large":
      return "the body is too large";
    case "service_unavailable":
      return "try again later";
    default: {
      const unhandled: never = problem;
      return unhandled;
    }
  }
}

/** `/token` answers the OAuth2 members beside the problem's (but for 413 and 503, which come before
 * the OAuth2 endpoint itself): `error` is typed with the values its status can carry. */
export function tokenRefusal(problem: AuthTokenError): string {
  switch (problem.status) {
    case 413:
    case 503:
      return problem.code;
    default: {
      const error: "invalid_grant" | "invalid_request" | "slow_down" = problem.error;
      return `${error}: ${problem.error_description}`;
    }
  }
}
