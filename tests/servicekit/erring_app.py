"""App factories for tests of servicekit.testing.ServerProcess, run by uvicorn in a process of their own."""

import logging

from fastapi import FastAPI

from servicekit.observability import configure_logging


def create_app() -> FastAPI:
    """Logs an error as it starts, as a service does with a 500's traceback."""
    configure_logging("INFO", True)
    logging.getLogger("erring").error("the database said something unexpected")
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def create_broken_app() -> FastAPI:
    raise RuntimeError("this app cannot be built")


def create_quiet_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
