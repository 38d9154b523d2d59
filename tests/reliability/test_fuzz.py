"""Schema-driven fuzzing: schemathesis generates requests for every operation of shop's own OpenAPI
schema (valid and invalid ones) and sends them to a real `shop serve` over HTTP.

Each response must: not be a 5xx; carry a status code and content type the operation documents;
conform to the documented schema; and, when it is an error, be problem+json whose `status` is the
HTTP status. Operations that need a user are called with a verified user's token (an admin's for the
admin routes), signed in anew whenever a fuzzed call ended that session.

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
    EXAMPLES,
    Target,
    operation_id,
    schema,
    serve_for_fuzzing,
)


@pytest.fixture(scope="module")
async def target(
    server_url: str, worker_id: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Target]:
    async for found in serve_for_fuzzing(server_url, worker_id, tmp_path_factory, "stateless"):
        yield found


def _fuzz(case: Any, target: Target) -> None:
    op = operation_id(case)
    headers = target.headers(op, case.operation.path)
    response = case.call(base_url=target.server.url, headers=headers, timeout=30)
    target.after(op, response.status_code)
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Any, target: Target) -> None:
    _fuzz(case, target)
