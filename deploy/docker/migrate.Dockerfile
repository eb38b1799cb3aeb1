# The one-shot migration (and API key administration) image: every component's migrations.
# Build from the repository root: docker build -f deploy/docker/migrate.Dockerfile -t retention/migrate .
# Run: `python -m servicekit.migrations upgrade` (the default) or `python -m gateway.keys ...`, with DATABASE_URL.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /app

COPY requirements.lock ./
COPY libs/servicekit libs/servicekit
COPY gateway gateway
COPY services services
# Each component's migrations/env.py imports its package, so all four are installed (editable, as in the
# Makefile); `upgrade` finds gateway/ and services/*/ under the working directory.
RUN pip install -c requirements.lock -e libs/servicekit -e gateway \
        -e services/segmentation -e services/campaigns -e services/capacity \
    && python -m compileall -q libs gateway services

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
USER 10001:10001

CMD ["python", "-m", "servicekit.migrations", "upgrade"]
