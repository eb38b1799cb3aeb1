# The campaigns image. Build from the repository root: docker build -f deploy/docker/campaigns.Dockerfile -t retention/campaigns .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /app

COPY requirements.lock ./
COPY libs/servicekit libs/servicekit
COPY services/campaigns services/campaigns
# As the Makefile installs them: the pinned versions as constraints, and editable, because a component finds
# its alembic.ini and migrations (for /readyz) next to its package. Compiled now: the root filesystem is
# read-only at run time.
RUN pip install -c requirements.lock -e libs/servicekit -e services/campaigns \
    && python -m compileall -q libs services/campaigns

# Files stay owned by root: the app can read its code, not change it.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
USER 10001:10001

EXPOSE 8000
CMD ["uvicorn", "--factory", "campaigns.main:create_app", "--host", "0.0.0.0", "--port", "8000", "--log-level", "warning", "--http", "servicekit.server:ProblemHttpProtocol"]
