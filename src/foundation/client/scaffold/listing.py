"""`foundation scaffold list`: a tenant's registrations from the API, every page."""

from __future__ import annotations

import os
from typing import Any

from foundation.client.scaffold import errors
from foundation.client.scaffold.api import Api, Unconfirmed, api_url, final_error, retry_budget

STATUSES = ("initiated", "linted", "tested", "published")
PAGE_SIZE = 100


def run_list(tenant: str, status: str | None) -> list[dict[str, Any]]:
    if status is not None and status not in STATUSES:
        raise errors.ScaffoldError(errors.USAGE, f"--status must be one of {', '.join(STATUSES)}")
    items: list[dict[str, Any]] = []
    with Api(api_url(None), os.environ.get("FOUNDATION_TOKEN") or None, budget=retry_budget()) as api:
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "page_size": PAGE_SIZE}
            if status:
                params["status"] = status
            try:
                answer = api.request(
                    "GET",
                    f"/api/v1/tenants/{tenant}/features/scaffold",
                    headers={"X-Tenant-Id": tenant},
                    params=params,
                )
            except Unconfirmed as exc:
                raise errors.ScaffoldError(
                    errors.NOT_CONFIRMED, f"the API did not answer: {exc.reason}"
                ) from None
            if answer.status != 200 or not isinstance(answer.body, dict):
                raise final_error(answer, f"listing the features of {tenant}")
            items.extend(answer.body.get("data", []))
            if page >= int(answer.body.get("pagination", {}).get("totalPages", 0)):
                return items
            page += 1
