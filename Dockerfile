# IABank Foundation API image (used by infra/docker-compose.yml). The native way needs no image:
# `foundation stack up`.
FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The runtime lock (hashes checked), then the project without resolving anything again: the image carries the
# API and its operator verbs only (no perf/stack/collector dependencies; see docs/operations.md).
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md* ./
COPY src ./src
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 foundation \
    && mkdir -p /app/var && chown foundation /app/var

USER foundation
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=10 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=3).status != 200)"
CMD ["sh", "-c", "foundation db upgrade && foundation seed --demo-data && foundation serve --host 0.0.0.0 --port 8000"]
