"""Who is acting: the name a request gives (`by`), else the API key the gateway says called (X-API-Key-Id)."""

from typing import Annotated

from fastapi import Depends, Header


def _caller(x_api_key_id: Annotated[str | None, Header(include_in_schema=False)] = None) -> str:
    return f"api-key:{x_api_key_id}" if x_api_key_id else "unknown"


CallerDep = Annotated[str, Depends(_caller)]
