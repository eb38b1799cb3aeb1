# The segmentation image. Build from the repository root: docker build -f deploy/docker/segmentation.Dockerfile -t retention/segmentation .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /app

COPY requirements.lock ./
COPY libs/servicekit libs/servicekit
COPY services/segmentation services/segmentation
# As the Makefile installs them: the pinned versions as constraints, and editable, because a component finds
# its alembic.ini and migrations (for /readyz) next to its package. Compiled now: the root filesystem is
# read-only at run time.
RUN pip install -c requirements.lock -e libs/servicekit -e services/segmentation \
    && python -m compileall -q libs services/segmentation

# Files stay owned by root: the app can read its code, not change it.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
USER 10001:10001

EXPOSE 8000
CMD ["uvicorn", "--factory", "segmentation.main:create_app", "--host", "0.0.0.0", "--port", "8000", "--log-level", "warning", "--http", "servicekit.server:ProblemHttpProtocol"]
