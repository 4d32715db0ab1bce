"""The interactive API documentation at ``/docs``: Swagger UI served by the API itself, from installed files.

FastAPI's built-in page loads Swagger UI from a public CDN and starts it with an inline script, which forces
the page's Content-Security-Policy to allow both; on an internal network without internet the page is blank,
and elsewhere a compromised CDN would run script in the API's origin. Here the page, Swagger UI's dist files
(shipped by the ``fastapi-offline`` package, a runtime dependency) and the start-up code
(``swagger-initializer.js``, a static file next to this module) all come from the API's own origin, so the
page works offline under a CSP that allows only ``'self'`` and no inline script (``DOCS_CSP`` in
foundation.http.response_headers). The Swagger UI release is the one pinned in requirements/runtime.txt.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
_SWAGGER_DIST = Path(str(files("fastapi_offline") / "static"))
_OWN = Path(__file__).resolve().parent
# The only files served under /docs/assets: name → (folder, media type).
ASSETS = {
    "swagger-ui-bundle.js": (_SWAGGER_DIST, "text/javascript; charset=utf-8"),
    "swagger-ui.css": (_SWAGGER_DIST, "text/css; charset=utf-8"),
    "favicon.png": (_SWAGGER_DIST, "image/png"),
    "swagger-initializer.js": (_OWN, "text/javascript; charset=utf-8"),
}
# Relative references: they resolve under whatever prefix a proxy mounts the API at.
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>IABank Foundation API — interactive documentation</title>
<link rel="icon" type="image/png" href="docs/assets/favicon.png">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="openapi.json"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/swagger-initializer.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
async def docs_page() -> Response:
    return HTMLResponse(PAGE, headers={"Cache-Control": "no-cache"})


@router.get(ASSETS_PATH + "/{name}")
async def docs_asset(name: str) -> Response:
    entry = ASSETS.get(name)
    if entry is None:
        raise HTTPException(404)
    folder, media_type = entry
    # The files change only with the installed package; revalidated with the ETag FileResponse sets.
    return FileResponse(folder / name, media_type=media_type, headers={"Cache-Control": "no-cache"})
