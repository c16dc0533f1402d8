"""schemathesis against the server's own OpenAPI spec: generated requests (valid and
invalid) must never get a 5xx, and every answer must match the spec (status codes, content
types, bodies). Bounded: a few dozen examples per operation, the tiny hashing encoder, an
admin key (the auth tests cover the other keys), the seeded namespace ``demo``. With
``OCRR_SCHEMATHESIS_FULL=1``: 100 examples per operation and the coverage phase.

The app is built when this module is imported (schemathesis parametrizes at collection),
in a temporary folder removed at exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from ocrr.ledger import Ledger
from ocrr.server.config import ServerSettings
from ocrr.substrate import Substrate
from server_fakes import HashingEncoder
from server_support import SEED, make_service

FULL = os.environ.get("OCRR_SCHEMATHESIS_FULL") == "1"
EXAMPLES = 100 if FULL else 10


def _api_schema():  # noqa: ANN202
    # in memory where the machine has it: the test is about answers, not fsync
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="ocrr-schema-", dir=shm if shm.is_dir() else None))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    made, app = make_service(folder / "data", ServerSettings(rate_limit=0, auth_failure_rate=0))
    substrate = Substrate(ledger=Ledger(made.registry.open_store("demo")),
                          encoder=HashingEncoder())
    substrate.correct_many([t for t, _ in SEED], [y for _, y in SEED], actor="seed",
                           subjects=["someone"] + [None] * (len(SEED) - 1))
    substrate.ledger.close()
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    loaded.config.update(parameters={"path.ns": "demo"})
    # the coverage phase (boundary values of every field) costs most of the run: CI keeps
    # to the generated examples; OCRR_SCHEMATHESIS_FULL=1 runs everything
    loaded.config.phases.coverage.enabled = FULL
    token = made.keys["admin"]

    @loaded.auth()
    class AdminKey:
        """The admin key, as schemathesis's own auth: its auth checks then know it is valid
        and probe the route without it and with a wrong one."""

        def get(self, case, context) -> str:  # noqa: ANN001
            return token

        def set(self, case, data: str, context) -> None:  # noqa: ANN001
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return loaded


schema = _api_schema()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_server_keeps_its_spec_and_never_answers_5xx(case) -> None:  # noqa: ANN001
    case.call_and_validate()
