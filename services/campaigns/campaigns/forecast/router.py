"""HTTP for the response priors: the Beta posterior of every kind x channel x Z-stage."""

from typing import Annotated, get_args

from fastapi import APIRouter, Query, Request

from campaigns.forecast import service
from campaigns.forecast.schemas import Posterior
from campaigns.types import CampaignKind, Channel
from servicekit.db import SessionDep

router = APIRouter(prefix="/v1/campaigns/priors", tags=["forecast"])


@router.get(
    "",
    response_model=list[Posterior],
    summary="P(response) per kind x channel x Z-stage: the seed's priors updated with the company's results",
)
async def list_priors(
    request: Request,
    session: SessionDep,
    kind: Annotated[CampaignKind | None, Query()] = None,
    channel: Annotated[Channel | None, Query()] = None,
) -> list[Posterior]:
    kinds = [kind] if kind else list(get_args(CampaignKind))
    channels = [channel] if channel else list(get_args(Channel))
    return await service.all_posteriors(session, request.app.state.settings, kinds, channels)
