"""Exit codes of `foundation scaffold` (docs/scaffolding.md) and the error that carries one."""

from __future__ import annotations

from typing import Any

OK = 0  # created or replayed
USAGE = 2  # usage or validation, including a 400 from the API
NOT_CONFIRMED = 3  # the API did not confirm within the retry budget (spooled by `new` and `sync`)
CONFLICT = 4  # 409 or 422 from the API
SERVER = 5  # any other answer from the API (401, 403, 404, 5xx that is not retried...)
LINT = 6  # the lint command failed


class ScaffoldError(Exception):
    """A failure with its exit code, one message line and, when the API answered, its Problem Details."""

    def __init__(self, code: int, message: str, problem: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.problem = problem
