# syntax=docker/dockerfile:1
# shop as one container: `shop serve` (migrations first) with WEB_CONCURRENCY workers against an
# external DATABASE_URL (without one: the embedded PostgreSQL under DATA_DIR).
# Build: docker build -t shop .   Run: see compose.yaml and the README.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# The locked, hashed dependencies of serving first (a layer that changes only with the lock), then
# shop itself without resolving anything again.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --quiet --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml setup.py README.md ./
COPY src ./src
RUN /opt/venv/bin/pip install --quiet --no-deps .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENVIRONMENT=production \
    DATA_DIR=/var/lib/shop \
    WEB_CONCURRENCY=2
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/shop --create-home --shell /usr/sbin/nologin shop
COPY --from=build /opt/venv /opt/venv
# Nothing beside the venv: the migrations travel inside the installed package.
WORKDIR /var/lib/shop
USER shop
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]
CMD ["shop", "serve", "--host", "0.0.0.0", "--port", "8000"]
