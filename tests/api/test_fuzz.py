"""Property-based fuzzing of the whole API from its OpenAPI schema (schemathesis): no input gets a 5xx answer.

Every operation the schema lists is called with generated parameters and bodies, as a signed-in professional
(so the calls reach past authentication into the endpoints), on each backend. The operations are driven with
hypothesis directly (schemathesis' pytest plugin does not run under this pytest).
"""

from __future__ import annotations

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE

EXAMPLES_PER_OPERATION = 25


def test_no_input_gets_a_server_error(app: FastAPI, tokens: Tokens) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = tokens.headers(tokens.for_actor(DR_HOUSE))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 3, "the schema lists the API's operations"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def call(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        call()
