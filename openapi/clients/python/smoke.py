"""Exercises the Python client that openapi-python-client generated from
openapi/openapi.json (into generated/favorites_client) against a live server:
alice publishes an interview, bob favorites it (PUT), toggles it off and on
again, alice favorites it too; then bob's favorites and the interview's
favorited-by list are read back and checked.

    FAVORITES_BASE_URL     e.g. http://127.0.0.1:8080
    FAVORITES_TOKEN_ALICE  bearer token of the interview's author
    FAVORITES_TOKEN_BOB    bearer token of a second user

Exits non-zero on the first mismatch.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent / "generated"))

from favorites_client import AuthenticatedClient, Client  # noqa: E402
from favorites_client.api.favorites import (  # noqa: E402
    get_favorite,
    list_favorited_by,
    list_my_favorites,
    put_favorite,
    toggle_favorite,
)
from favorites_client.api.interviews import create_interview, get_interview  # noqa: E402
from favorites_client.api.users import delete_me, export_me, get_me  # noqa: E402
from favorites_client.models import (  # noqa: E402
    AccountExport,
    CreateInterview,
    FavoriteState,
    Interview,
    PageOfFavoritedBy,
    PageOfFavoriteInterview,
    Problem,
    User,
)
from favorites_client.types import Response  # noqa: E402


class Mismatch(Exception):
    pass


CHECKS = 0


def check(condition: bool, what: str, actual: Any = None) -> None:
    global CHECKS
    CHECKS += 1
    if not condition:
        raise Mismatch(what if actual is None else f"{what}: got {actual!r}")


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise Mismatch(f"{name} is not set")
    return value


def expect(response: Response[Any], status: int, kind: type, what: str) -> Any:
    check(response.status_code == status, f"{what} answers {status}", (response.status_code, response.content))
    check(isinstance(response.parsed, kind), f"{what} parses as {kind.__name__}", response.parsed)
    return response.parsed


def expect_state(state: FavoriteState, *, interview_id: int, favorited: bool, count: int, what: str) -> None:
    check(state.interview_id == interview_id, f"{what}: interview_id", state.interview_id)
    check(state.favorited is favorited, f"{what}: favorited", state.favorited)
    check((state.favorited_at is not None) == favorited, f"{what}: favorited_at set exactly when favorited", state.favorited_at)
    check(state.favorites_count == count, f"{what}: favorites_count", state.favorites_count)


def main() -> None:
    base_url = env("FAVORITES_BASE_URL")
    if urlsplit(base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise Mismatch(f"refusing to run against {base_url}: only a local server is a target")
    alice = AuthenticatedClient(base_url=base_url, token=env("FAVORITES_TOKEN_ALICE"), raise_on_unexpected_status=True)
    bob = AuthenticatedClient(base_url=base_url, token=env("FAVORITES_TOKEN_BOB"), raise_on_unexpected_status=True)
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

    alice_id = expect(get_me.sync_detailed(client=alice), 200, User, "GET /me (alice)").id
    bob_id = expect(get_me.sync_detailed(client=bob), 200, User, "GET /me (bob)").id
    check(alice_id != bob_id, "alice and bob are different users")

    # alice publishes an interview, with an Idempotency-Key: the retry of the
    # same request gets the same interview back instead of a second one.
    key = f"python-smoke-{uuid.uuid4()}"
    new_interview = CreateInterview(title="Backend engineer onsite (Python client)", company="Acme", position="SRE", body="Four rounds.")
    created = create_interview.sync_detailed(client=alice, body=new_interview, idempotency_key=key)
    interview = expect(created, 201, Interview, "POST /interviews")
    retried = create_interview.sync_detailed(client=alice, body=new_interview, idempotency_key=key)
    check(expect(retried, 201, Interview, "POST /interviews (retried)").id == interview.id, "the retry is the same interview")
    check(retried.headers.get("idempotent-replayed") == "true", "the retry is a replay", retried.headers)

    # Revalidating it with its ETag: 304, no body.
    fetched = get_interview.sync_detailed(interview.id, client=alice)
    expect(fetched, 200, Interview, "GET /interviews/{id}")
    etag = fetched.headers.get("etag")
    check(etag is not None and etag.startswith('"'), "the interview has an ETag", etag)
    revalidated = get_interview.sync_detailed(interview.id, client=alice, if_none_match=etag)
    check(revalidated.status_code == 304, "If-None-Match with its ETag is 304", revalidated.status_code)
    check(revalidated.content == b"", "a 304 has no body", revalidated.content)
    interview_id = interview.id
    check(interview.author.id == alice_id, "the caller is the author", interview.author)
    check(interview.favorites_count == 0, "a new interview has no favorites", interview.favorites_count)
    check(
        created.headers.get("location") == f"/api/v1/interviews/{interview_id}",
        "Location names the new interview",
        created.headers.get("location"),
    )

    # bob favorites it: created, then idempotent.
    put = expect(put_favorite.sync_detailed(interview_id, client=bob), 201, FavoriteState, "PUT /favorites/{id} (new)")
    expect_state(put, interview_id=interview_id, favorited=True, count=1, what="PUT")
    again = expect(put_favorite.sync_detailed(interview_id, client=bob), 200, FavoriteState, "PUT /favorites/{id} (again)")
    expect_state(again, interview_id=interview_id, favorited=True, count=1, what="PUT again")
    check(again.favorited_at == put.favorited_at, "a repeated PUT keeps favorited_at", again.favorited_at)

    # bob toggles it off, then on again.
    off = expect(toggle_favorite.sync_detailed(interview_id, client=bob), 200, FavoriteState, "toggle (off)")
    expect_state(off, interview_id=interview_id, favorited=False, count=0, what="toggle off")
    on = expect(toggle_favorite.sync_detailed(interview_id, client=bob), 200, FavoriteState, "toggle (on)")
    expect_state(on, interview_id=interview_id, favorited=True, count=1, what="toggle on")
    state = expect(get_favorite.sync_detailed(interview_id, client=bob), 200, FavoriteState, "GET /favorites/{id}")
    expect_state(state, interview_id=interview_id, favorited=True, count=1, what="GET state")

    # alice favorites it too, after bob.
    second = expect(put_favorite.sync_detailed(interview_id, client=alice), 201, FavoriteState, "PUT /favorites/{id} (alice)")
    expect_state(second, interview_id=interview_id, favorited=True, count=2, what="alice's PUT")

    # list_favorites(bob): the interview, as bob sees it.
    mine = expect(list_my_favorites.sync_detailed(client=bob), 200, PageOfFavoriteInterview, "GET /favorites")
    entries = [item for item in mine.items if item.interview.id == interview_id]
    check(len(entries) == 1, "bob's favorites list the interview once", mine.items)
    check(entries[0].interview.favorited is True, "bob sees it as favorited", entries[0].interview.favorited)
    check(entries[0].interview.favorites_count == 2, "its favorites_count is 2", entries[0].interview.favorites_count)
    check(mine.next_cursor is None, "one page of bob's favorites", mine.next_cursor)

    # list_favorited_by(interview), anonymously: newest first, alice then bob.
    by = expect(list_favorited_by.sync_detailed(interview_id, client=anonymous), 200, PageOfFavoritedBy, "favorited-by")
    users = [item.user.id for item in by.items]
    check(users == [alice_id, bob_id], "favorited-by is [alice, bob]", users)
    check(by.next_cursor is None, "favorited-by fits one page", by.next_cursor)

    # The same list one row per page, following next_cursor.
    first_response = list_favorited_by.sync_detailed(interview_id, client=anonymous, limit=1)
    first = expect(first_response, 200, PageOfFavoritedBy, "favorited-by?limit=1")
    check([item.user.id for item in first.items] == [alice_id], "page 1 is alice", first.items)
    check(isinstance(first.next_cursor, str), "page 1 has a next_cursor", first.next_cursor)
    link = first_response.headers.get("link", "")
    check('rel="next"' in link, 'page 1 has a Link rel="next" header', link)
    rest = expect(
        list_favorited_by.sync_detailed(interview_id, client=anonymous, limit=1, cursor=first.next_cursor),
        200,
        PageOfFavoritedBy,
        "favorited-by?cursor=",
    )
    check([item.user.id for item in rest.items] == [bob_id], "page 2 is bob", rest.items)
    check(rest.next_cursor is None, "page 2 is the last", rest.next_cursor)

    # A typed problem+json error.
    missing = expect(put_favorite.sync_detailed(2**63 - 1, client=bob), 404, Problem, "PUT /favorites/{missing id}")
    check(missing.code == "not_found", "the problem's code is not_found", missing.code)

    # bob's export holds his favorite; then bob deletes his account.
    exported = expect(export_me.sync_detailed(client=bob), 200, AccountExport, "GET /me/export")
    check(exported.user.id == bob_id, "the export is bob's", exported.user)
    check(
        any(favorite.interview.id == interview_id for favorite in exported.favorites),
        "bob's export lists his favorite",
        exported.favorites,
    )
    gone = delete_me.sync_detailed(client=bob)
    check(gone.status_code == 204, "DELETE /me answers 204", (gone.status_code, gone.content))
    after = expect(list_favorited_by.sync_detailed(interview_id, client=anonymous), 200, PageOfFavoritedBy, "favorited-by after DELETE /me")
    left = [item.user.id for item in after.items]
    check(left == [alice_id], "favorited-by is [alice] once bob is gone", left)
    reborn = expect(get_me.sync_detailed(client=bob), 200, User, "GET /me after DELETE /me")
    check(reborn.id != bob_id, "bob's next request starts a new account", reborn.id)

    print(f"python client: passed ({CHECKS} checks, interview {interview_id})")


if __name__ == "__main__":
    try:
        main()
    except Mismatch as error:
        print(f"python client: FAILED: {error}", file=sys.stderr)
        sys.exit(1)
