"""Schema-driven fuzzing: schemathesis generates requests for every operation of shop's own OpenAPI
schema (valid and invalid ones) and sends them to a real `shop serve` over HTTP.

Each response must: not be a 5xx; carry a status code and content type the operation documents;
conform to the documented schema; and, when it is an error, be problem+json whose `status` is the
HTTP status.

The operations are fuzzed in four runs, so that the ones behind a sign-in are reached signed in:
- the public operations, without a token;
- the customer's operations with a customer's token, the calls that end sessions left out — each of
  them must run signed in (a 401 fails the test: the run lost its own session);
- the admin operations with an admin's token, pointed at another user, never at the admin itself;
- the calls that end sessions (logout, logout-all, change-password, DELETE /me), each example with
  a session of its own.
The module prints the calls per operation and how many ran signed in.

The run is seeded (`derandomize`) so CI is reproducible; `FUZZ_EXAMPLES` raises the number of
examples per operation for a longer hunt by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.reliability.fuzzing import (
    CHECKS,
    ENDS_SESSIONS,
    EXAMPLES,
    SIGNED_OUT,
    Target,
    operation_id,
    schema,
    serve_for_fuzzing,
)

RAW = schema.raw_schema
OPERATIONS = {
    operation["operationId"]: (path, operation)
    for path, item in RAW["paths"].items()
    for method, operation in item.items()
    if isinstance(operation, dict) and "operationId" in operation
}
PUBLIC = sorted(op for op, (_, operation) in OPERATIONS.items() if operation.get("security") == [])
ADMIN = sorted(op for op, (path, _) in OPERATIONS.items() if path.startswith("/api/v1/admin/"))
CUSTOMER = sorted(set(OPERATIONS) - set(PUBLIC) - set(ADMIN) - ENDS_SESSIONS)
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
async def target(
    server_url: str, worker_id: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Target]:
    async for found in serve_for_fuzzing(server_url, worker_id, tmp_path_factory, "stateless"):
        yield found


def _json(response: Any) -> Any:
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.split(";")[0].endswith("json") or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _fuzz(case: Any, target: Target, headers: dict[str, str], *, must_be_signed_in: bool = False) -> None:
    op = operation_id(case)
    response = case.call(base_url=target.server.url, headers=headers, timeout=30)
    body = _json(response)
    target.after(op, response.status_code, body, signed_in=bool(headers))
    if must_be_signed_in:
        code = body.get("code") if isinstance(body, dict) else None
        assert not (response.status_code == 401 and code in SIGNED_OUT), f"{op} ran signed out: {code}"
        assert code != "forbidden", f"{op}: the admin was refused"
    case.validate_response(response, checks=CHECKS)


def test_the_runs_cover_every_operation() -> None:
    assert set(PUBLIC) | set(ADMIN) | set(CUSTOMER) | ENDS_SESSIONS == set(OPERATIONS)
    assert set(OPERATIONS) >= ENDS_SESSIONS


@schema.include(operation_id=PUBLIC).parametrize()
@FUZZ_SETTINGS
def test_public_operations_answer_as_documented(case: Any, target: Target) -> None:
    _fuzz(case, target, {})


@schema.include(operation_id=CUSTOMER).parametrize()
@FUZZ_SETTINGS
def test_customer_operations_answer_as_documented_signed_in(case: Any, target: Target) -> None:
    target.point_at_known_ids(case)
    headers = target.headers(operation_id(case), case.operation.path, "customer")
    _fuzz(case, target, headers, must_be_signed_in=True)


@schema.include(operation_id=ADMIN).parametrize()
@FUZZ_SETTINGS
def test_admin_operations_answer_as_documented_signed_in(case: Any, target: Target) -> None:
    target.point_at_known_ids(case)
    headers = target.headers(operation_id(case), case.operation.path, "admin")
    _fuzz(case, target, headers, must_be_signed_in=True)


@schema.include(operation_id=sorted(ENDS_SESSIONS)).parametrize()
@FUZZ_SETTINGS
def test_session_ending_operations_answer_as_documented(case: Any, target: Target) -> None:
    _fuzz(case, target, target.fresh_session("customer"), must_be_signed_in=True)
