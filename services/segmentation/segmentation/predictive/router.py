"""HTTP for the predictive models: fit them (a job), read a fit, and the current model."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from segmentation.predictive import service
from segmentation.predictive.schemas import Fit, FitRequest, WeeklyPurchases
from servicekit.app import keep_until_shutdown
from servicekit.bounds import Day
from servicekit.db import SessionDep
from servicekit.errors import BadRequest

router = APIRouter(prefix="/v1/segmentation/predictive", tags=["predictive"])


@router.post(
    "/fits",
    response_model=Fit,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Fit the purchase and spend models on the order history; poll the fit for its status",
)
async def start_fit(request: Request, response: Response, body: FitRequest | None = None) -> Fit:
    body = body or FitRequest()
    fit, task = await service.start_fit(request.app.state.sessionmaker, body.calibration_end, body.holdout_end)
    keep_until_shutdown(request.app, task)
    response.headers["Location"] = f"/v1/segmentation/predictive/fits/{fit.id}"
    return fit


@router.get("/fits", response_model=list[Fit], summary="Recent fits, newest first")
async def list_fits(session: SessionDep, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[Fit]:
    return await service.list_fits(session, limit)


@router.get("/fits/{fit_id}", response_model=Fit, summary="One fit")
async def get_fit(fit_id: uuid.UUID, session: SessionDep) -> Fit:
    return await service.get_fit(session, fit_id)


@router.get(
    "/model",
    response_model=Fit,
    summary="The current model: the newest fit that succeeded, with its parameters, log-likelihood and sample",
)
async def current_model(session: SessionDep) -> Fit:
    return await service.current_model(session)


@router.get(
    "/weekly-purchases",
    response_model=WeeklyPurchases,
    summary="The customers' expected purchases per week, under the model of the last run (the capacity baseline)",
    responses={409: {"description": "No run has scored the customers with a model yet."}},
)
async def weekly_purchases(
    session: SessionDep,
    from_date: Annotated[Day, Query(description="A Monday: the first week's start.")],
    weeks: Annotated[int, Query(ge=1, le=156)] = 26,
) -> WeeklyPurchases:
    if from_date.weekday() != 0:
        raise BadRequest("from_date must be a Monday: weeks are ISO weeks.")
    return await service.weekly_purchases(session, from_date, weeks)
