// Exercises the generated TypeScript client (openapi-fetch over the types that
// openapi-typescript generated from openapi/openapi.json) against a live
// server: alice publishes an interview, bob favorites it (PUT), toggles it off
// and on again, alice favorites it too; then bob's favorites and the
// interview's favorited-by list are read back and checked. The interview is
// published with an Idempotency-Key (and retried), and revalidated with its
// ETag through If-None-Match.
//
//   FAVORITES_BASE_URL     e.g. http://127.0.0.1:8080
//   FAVORITES_TOKEN_ALICE  bearer token of the interview's author
//   FAVORITES_TOKEN_BOB    bearer token of a second user
//
// Exits non-zero on the first mismatch.

import { randomUUID } from "node:crypto";

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type FavoriteState = components["schemas"]["FavoriteState"];

function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
}

const baseUrl = env("FAVORITES_BASE_URL");
const host = new URL(baseUrl).hostname;
if (host !== "127.0.0.1" && host !== "localhost" && host !== "[::1]") {
  throw new Error(`refusing to run against ${baseUrl}: only a local server is a target`);
}
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const alice = bearer(env("FAVORITES_TOKEN_ALICE"));
const bob = bearer(env("FAVORITES_TOKEN_BOB"));

const client = createClient<paths>({ baseUrl });

let checks = 0;
function check(condition: boolean, what: string, actual?: unknown): void {
  checks += 1;
  if (!condition) {
    const detail = actual === undefined ? "" : `: got ${JSON.stringify(actual)}`;
    throw new Error(`check failed: ${what}${detail}`);
  }
}

function expectStatus(response: Response, status: number, what: string): void {
  check(response.status === status, `${what} answers ${status}`, response.status);
}

function expectState(
  state: FavoriteState | undefined,
  expected: { favorited: boolean; count: number; interviewId: number },
  what: string,
): FavoriteState {
  check(state !== undefined, `${what} has a body`);
  const s = state as FavoriteState;
  check(s.interview_id === expected.interviewId, `${what}: interview_id`, s.interview_id);
  check(s.favorited === expected.favorited, `${what}: favorited`, s.favorited);
  check(
    (s.favorited_at != null) === expected.favorited,
    `${what}: favorited_at set exactly when favorited`,
    s.favorited_at,
  );
  check(s.favorites_count === expected.count, `${what}: favorites_count`, s.favorites_count);
  return s;
}

async function main(): Promise<void> {
  const meAlice = await client.GET("/api/v1/me", { headers: alice });
  expectStatus(meAlice.response, 200, "GET /me (alice)");
  const aliceId = meAlice.data!.id;
  const meBob = await client.GET("/api/v1/me", { headers: bob });
  expectStatus(meBob.response, 200, "GET /me (bob)");
  const bobId = meBob.data!.id;
  check(aliceId !== bobId, "alice and bob are different users");

  // alice publishes an interview, with an Idempotency-Key: the retry of the
  // same request gets the same interview back instead of a second one.
  const publish = {
    headers: alice,
    params: { header: { "Idempotency-Key": `typescript-smoke-${randomUUID()}` } },
    body: {
      title: "Backend engineer onsite (TypeScript client)",
      company: "Acme",
      position: "SRE",
      body: "Four rounds.",
    },
  };
  const created = await client.POST("/api/v1/interviews", publish);
  expectStatus(created.response, 201, "POST /interviews");
  const interview = created.data!;
  const interviewId = interview.id;
  const retried = await client.POST("/api/v1/interviews", publish);
  expectStatus(retried.response, 201, "POST /interviews (retried)");
  check(retried.data!.id === interviewId, "the retry is the same interview", retried.data!.id);
  check(
    retried.response.headers.get("Idempotent-Replayed") === "true",
    "the retry is a replay",
    retried.response.headers.get("Idempotent-Replayed"),
  );

  // Revalidating it with its ETag: 304, no body.
  const fetched = await client.GET("/api/v1/interviews/{interview_id}", {
    headers: alice,
    params: { path: { interview_id: interviewId } },
  });
  expectStatus(fetched.response, 200, "GET /interviews/{id}");
  const etag = fetched.response.headers.get("ETag");
  check(etag !== null && etag.startsWith('"'), "the interview has an ETag", etag);
  const revalidated = await client.GET("/api/v1/interviews/{interview_id}", {
    headers: alice,
    params: { path: { interview_id: interviewId }, header: { "If-None-Match": etag! } },
  });
  expectStatus(revalidated.response, 304, "GET /interviews/{id} with If-None-Match");
  check(interview.author.id === aliceId, "the caller is the author", interview.author);
  check(interview.favorites_count === 0, "a new interview has no favorites", interview.favorites_count);
  check(
    created.response.headers.get("Location") === `/api/v1/interviews/${interviewId}`,
    "Location names the new interview",
    created.response.headers.get("Location"),
  );
  const path = { interview_id: interviewId };

  // bob favorites it: created, then idempotent.
  const put = await client.PUT("/api/v1/favorites/{interview_id}", { headers: bob, params: { path } });
  expectStatus(put.response, 201, "PUT /favorites/{id} (new)");
  const favoritedAt = expectState(put.data, { favorited: true, count: 1, interviewId }, "PUT").favorited_at;
  const again = await client.PUT("/api/v1/favorites/{interview_id}", { headers: bob, params: { path } });
  expectStatus(again.response, 200, "PUT /favorites/{id} (again)");
  const kept = expectState(again.data, { favorited: true, count: 1, interviewId }, "PUT again");
  check(kept.favorited_at === favoritedAt, "a repeated PUT keeps favorited_at", kept.favorited_at);

  // bob toggles it off, then on again.
  const off = await client.POST("/api/v1/favorites/{interview_id}/toggle", { headers: bob, params: { path } });
  expectStatus(off.response, 200, "toggle (off)");
  expectState(off.data, { favorited: false, count: 0, interviewId }, "toggle off");
  const on = await client.POST("/api/v1/favorites/{interview_id}/toggle", { headers: bob, params: { path } });
  expectStatus(on.response, 200, "toggle (on)");
  expectState(on.data, { favorited: true, count: 1, interviewId }, "toggle on");
  const state = await client.GET("/api/v1/favorites/{interview_id}", { headers: bob, params: { path } });
  expectStatus(state.response, 200, "GET /favorites/{id}");
  expectState(state.data, { favorited: true, count: 1, interviewId }, "GET state");

  // alice favorites it too, after bob.
  const second = await client.PUT("/api/v1/favorites/{interview_id}", { headers: alice, params: { path } });
  expectStatus(second.response, 201, "PUT /favorites/{id} (alice)");
  expectState(second.data, { favorited: true, count: 2, interviewId }, "alice's PUT");

  // list_favorites(bob): the interview, as bob sees it.
  const mine = await client.GET("/api/v1/favorites", { headers: bob });
  expectStatus(mine.response, 200, "GET /favorites");
  const entry = mine.data!.items.find((item) => item.interview.id === interviewId);
  check(entry !== undefined, "bob's favorites list the interview", mine.data!.items);
  check(entry!.interview.favorited === true, "bob sees it as favorited", entry!.interview.favorited);
  check(entry!.interview.favorites_count === 2, "its favorites_count is 2", entry!.interview.favorites_count);
  check(mine.data!.next_cursor === null, "one page of bob's favorites", mine.data!.next_cursor);

  // list_favorited_by(interview), anonymously: newest first, alice then bob.
  const by = await client.GET("/api/v1/interviews/{interview_id}/favorited-by", { params: { path } });
  expectStatus(by.response, 200, "GET /interviews/{id}/favorited-by");
  const users = by.data!.items.map((item) => item.user.id);
  check(JSON.stringify(users) === JSON.stringify([aliceId, bobId]), "favorited-by is [alice, bob]", users);
  check(by.data!.next_cursor === null, "favorited-by fits one page", by.data!.next_cursor);

  // The same list one row per page, following next_cursor.
  const first = await client.GET("/api/v1/interviews/{interview_id}/favorited-by", {
    params: { path, query: { limit: 1 } },
  });
  expectStatus(first.response, 200, "favorited-by?limit=1");
  check(first.data!.items[0]?.user.id === aliceId, "page 1 is alice", first.data!.items);
  const cursor = first.data!.next_cursor;
  check(typeof cursor === "string", "page 1 has a next_cursor", cursor);
  check(
    (first.response.headers.get("Link") ?? "").includes('rel="next"'),
    'page 1 has a Link rel="next" header',
    first.response.headers.get("Link"),
  );
  const rest = await client.GET("/api/v1/interviews/{interview_id}/favorited-by", {
    params: { path, query: { limit: 1, cursor: cursor! } },
  });
  expectStatus(rest.response, 200, "favorited-by?cursor=");
  check(rest.data!.items.length === 1 && rest.data!.items[0]?.user.id === bobId, "page 2 is bob", rest.data!.items);
  check(rest.data!.next_cursor === null, "page 2 is the last", rest.data!.next_cursor);

  // A typed problem+json error.
  const missing = await client.PUT("/api/v1/favorites/{interview_id}", {
    headers: bob,
    params: { path: { interview_id: 9_007_199_254_740_991 } },
  });
  expectStatus(missing.response, 404, "PUT /favorites/{missing id}");
  check(missing.error?.code === "not_found", "the problem's code is not_found", missing.error);
  check(missing.data === undefined, "an error has no data");

  // bob's export holds his favorite; then bob deletes his account.
  const exported = await client.GET("/api/v1/me/export", { headers: bob });
  expectStatus(exported.response, 200, "GET /me/export");
  check(exported.data!.user.id === bobId, "the export is bob's", exported.data!.user);
  check(
    exported.data!.favorites.some((favorite) => favorite.interview.id === interviewId),
    "bob's export lists his favorite",
    exported.data!.favorites,
  );
  const gone = await client.DELETE("/api/v1/me", { headers: bob });
  expectStatus(gone.response, 204, "DELETE /me");
  const after = await client.GET("/api/v1/interviews/{interview_id}/favorited-by", { params: { path } });
  expectStatus(after.response, 200, "favorited-by after DELETE /me");
  const left = after.data!.items.map((item) => item.user.id);
  check(left.length === 1 && left[0] === aliceId, "favorited-by is [alice] once bob is gone", left);
  const reborn = await client.GET("/api/v1/me", { headers: bob });
  expectStatus(reborn.response, 200, "GET /me after DELETE /me");
  check(reborn.data!.id !== bobId, "bob's next request starts a new account", reborn.data);

  console.log(`typescript client: passed (${checks} checks, interview ${interviewId})`);
}

main().catch((error: unknown) => {
  console.error(`typescript client: FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
