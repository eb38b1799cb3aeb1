"""Who is acting: the name a request gives (`by`), else the API key the call was signed for (servicekit.signing:
an X-API-Key-Id no signature covers never gets this far)."""

from typing import Annotated

from fastapi import Depends

from servicekit.signing import CallerDep as SignedCallerDep


def _caller(caller: SignedCallerDep) -> str:
    return f"api-key:{caller.key_id}" if caller.key_id else "unknown"


CallerDep = Annotated[str, Depends(_caller)]
