"""Schemathesis hooks loaded by the DAST run (``hooks`` in its generated config): one more check, applied to
every response the fuzzer gets, that the security headers are there and no internals leak."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import schemathesis

from foundation.ops.security.dast_headers import header_problems, leak_problem


@schemathesis.check
def security_headers(ctx: Any, response: Any, case: Any) -> bool | None:
    # Response.headers maps lower-case names to lists of values (schemathesis.core.transport.Response).
    headers = {
        name: values[-1] if isinstance(values, list) else values for name, values in response.headers.items()
    }
    path = urlsplit(str(response.request.url)).path
    problems = header_problems(path, headers)
    leak = leak_problem(response.text or "")
    if leak:
        problems.append(leak)
    if problems:
        raise AssertionError("; ".join(problems))
    return None
