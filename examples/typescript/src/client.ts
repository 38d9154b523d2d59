// A shop client: openapi-fetch over the types openapi-typescript generated from docs/openapi.json.
// Every path, parameter, body and answer below is checked by the compiler against that document.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "../generated/schema.js";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
export type TokenPair = Schemas["TokenPair"];

/** openapi-fetch's answer: `data` on success, `error` (the documented Problem) otherwise. */
interface Answer<Data, Failure> {
  data?: Data;
  error?: Failure;
  response: Response;
}

export function createShopClient(baseUrl: string) {
  let accessToken: string | undefined;
  const bearer: Middleware = {
    onRequest({ request }) {
      if (accessToken !== undefined) request.headers.set("Authorization", `Bearer ${accessToken}`);
      return request;
    },
  };
  const client = createClient<paths>({ baseUrl });
  client.use(bearer);
  return {
    client,
    /** Sends this access token with every later request (held in memory, never stored). */
    useToken(tokens: TokenPair): void {
      accessToken = tokens.access_token;
    },
    forgetToken(): void {
      accessToken = undefined;
    },
  };
}

/** The data of a successful answer; anything else stops the script with the problem's code. */
export function ok<Data, Failure extends { code: string; detail: string }>(
  what: string,
  answer: Answer<Data, Failure>,
): Data {
  if (answer.error !== undefined || answer.data === undefined) {
    const problem = answer.error;
    const why = problem === undefined ? "no body" : `${problem.code}: ${problem.detail}`;
    throw new Error(`${what}: HTTP ${answer.response.status} (${why})`);
  }
  return answer.data;
}

/** A 204 answer. */
export function done<Failure extends { code: string }>(what: string, answer: Answer<unknown, Failure>): void {
  if (answer.response.status !== 204) {
    throw new Error(`${what}: HTTP ${answer.response.status} (${answer.error?.code ?? "no problem"})`);
  }
}

/** The problem of a refusal, which must carry `code`: a client switches on the code, not on text. */
export function refused<Failure extends { code: string; status: number }>(
  what: string,
  answer: Answer<unknown, Failure>,
  code: string,
): Failure {
  const problem = answer.error;
  if (problem === undefined) throw new Error(`${what}: expected ${code}, got HTTP ${answer.response.status}`);
  if (answer.response.headers.get("content-type") !== "application/problem+json") {
    throw new Error(`${what}: a problem must be application/problem+json`);
  }
  if (problem.code !== code) throw new Error(`${what}: expected ${code}, got ${problem.code}`);
  return problem;
}
