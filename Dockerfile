# syntax=docker/dockerfile:1
# Fenrun's image: the API by default (`serve`), the worker with `worker`, migrations with
# `migrate` (any `fenrun` command). Dependencies come from the runtime lock, every file checked
# by its hash; no compiler, no dev tools; runs as an unprivileged user.
#
#   docker build -t fenrun .
#   docker run -e FENRUN_DATABASE_URL=postgresql://... -p 8000:8000 fenrun
#
# Without FENRUN_DATABASE_URL the container starts the embedded PostgreSQL in /var/lib/fenrun
# (mount a volume there to keep it): fine for a trial, not for production (docs/operations.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements/runtime.txt /tmp/runtime.txt
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/runtime.txt

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    FENRUN_HOST=0.0.0.0 \
    FENRUN_PORT=8000 \
    FENRUN_DATA_DIR=/var/lib/fenrun \
    FENRUN_LOG_FORMAT=json
RUN groupadd --system --gid 10001 fenrun \
    && useradd --system --uid 10001 --gid fenrun --home-dir /var/lib/fenrun --create-home \
       --shell /usr/sbin/nologin fenrun
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
# The code runs from /app (PYTHONPATH), as in a checkout: migrations/ is read from beside it.
COPY api api
COPY application application
COPY domain domain
COPY projections projections
COPY migrations migrations
USER fenrun
EXPOSE 8000
VOLUME ["/var/lib/fenrun"]
# Ready = the database answers and no view is failing (/readyz); the worker's service in
# compose.yaml checks its metrics port instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FENRUN_PORT', '8000') + '/readyz', timeout=4)"]
ENTRYPOINT ["python", "-m", "api.cli"]
CMD ["serve"]
