"""Schemathesis extensions for fuzzing the favorites API (loaded by .ci/fuzz.sh
through SCHEMATHESIS_HOOKS).

Page cursors are opaque tokens the server issues (`format: cursor` in the
document); a random string is rightly answered 400 `invalid_cursor`, so for
schema-valid requests the fuzzer must send cursors of the server's own shape:
base64url (unpadded) of `v1:<microseconds since the epoch>:<row id>`. Any such
cursor is a valid position in any list, whether or not a row sits there.
"""

import base64
from urllib.parse import urlsplit

import schemathesis
from hypothesis import strategies as st

# 1900-01-01 .. 2100-01-01 in microseconds.
_MICROS = st.integers(min_value=-2_208_988_800_000_000, max_value=4_102_444_800_000_000)
_IDS = st.integers(min_value=1, max_value=2**63 - 1)


def _cursor(micros: int, row_id: int) -> str:
    raw = f"v1:{micros}:{row_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


schemathesis.openapi.format("cursor", st.builds(_cursor, _MICROS, _IDS))


# A tripwire: every request goes to the local server .ci/fuzz.sh started, and
# nowhere else. The base URL (--url) is checked before each call, the URL a
# request really went to after it; either check failing stops the run.
_LOCAL_HOSTS = {"127.0.0.1"}


def _require_local(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in _LOCAL_HOSTS:
        raise RuntimeError(f"refusing to fuzz {url!r}: only 127.0.0.1 is a target")


@schemathesis.hook
def before_call(context, case, kwargs):
    _require_local(case.operation.schema.get_base_url())


@schemathesis.hook
def after_call(context, case, response):
    _require_local(response.request.url)
