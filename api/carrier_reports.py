"""REST for carriers that push: `POST /v1/carrier-reports/{carrier}` with a batch of card-state
and usage reports, signed like every machine request (api/auth/signatures.py, decision 0021) by
an API key with the `carrier-reports` scope.

Each report is recorded once by its id (a report pushed twice is answered as recorded); reports
arriving out of order are placed by their own `reportedAt`, never by arrival: the cards' use
cases decide what a late one still changes (decision 0031).
"""

from datetime import date, tzinfo
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from starlette.concurrency import run_in_threadpool

from api.signed_routes import invalid, refused, signed_openapi, user_errors, verify_signed
from application.carrier_reports import month_to_date
from application.carriers import CardStateReport, Carrier, MonthToDate
from application.usage import UsageReport
from domain.errors import LedgerError
from domain.identity import Scope, speaks_for_carrier

router = APIRouter(prefix="/v1", tags=["machines"])
Text = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:@+-]+$")]
MAX_REPORTS = 1000
MAX_BYTES = 2**53  # what JSON numbers keep exactly


class _Report(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", strict=True)

    report_id: Text = Field(description="The carrier's id of the report: recorded once.")
    iccid: Text
    reported_at: AwareDatetime = Field(description="When the carrier observed it.")


class StateReport(_Report):
    kind: Literal["STATE"]
    raw_state: Text = Field(description="The carrier's own state code (cardStatus, status, ...).")


class UsageReportIn(_Report):
    kind: Literal["USAGE"]
    bytes_used: Annotated[int, Field(ge=0, le=MAX_BYTES)] = Field(
        description="Bytes used: in `day`, or between periodStart and periodEnd, or (neither"
        " given) in the billing month up to reportedAt (a month-to-date counter)."
    )
    day: date | None = Field(default=None, description="The business day it covers.")
    period_start: AwareDatetime | None = None
    period_end: AwareDatetime | None = None

    def usage(self, zone: tzinfo) -> UsageReport:
        if self.day is None and self.period_start is None:
            counter = MonthToDate(self.report_id, "", self.iccid, self.bytes_used, self.reported_at)
            return month_to_date(counter, zone)
        return UsageReport(
            iccid=self.iccid,
            report_id=self.report_id,
            bytes_used=self.bytes_used,
            reported_at=self.reported_at,
            day=self.day,
            period_start=self.period_start,
            period_end=self.period_end,
        )


class CarrierReports(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reports: Annotated[
        list[Annotated[StateReport | UsageReportIn, Field(discriminator="kind")]],
        Field(min_length=1, max_length=MAX_REPORTS),
    ]


_SIGNED = signed_openapi(
    CarrierReports.model_json_schema(),
    "Signed with an API key with the `carrier-reports` scope issued for this"
    " carrier (`fenrun keys add NAME --scope carrier-reports --for CMCC`; 403 for another"
    " carrier's key), as /v1/carrier-settlements is. Up to 1000 reports a request; each recorded once by its"
    " reportId, placed by its reportedAt.",
)


@router.post(
    "/carrier-reports/{carrier}",
    openapi_extra=_SIGNED,
    responses={
        401: {"description": "Unsigned, badly signed, stale or replayed"},
        403: {"description": "The key speaks for another carrier"},
    },
)
async def record_carrier_reports(carrier: str, request: Request) -> JSONResponse:
    """Records a carrier's pushed card states and usage."""
    machine, body = await verify_signed(request, Scope.CARRIER_REPORTS)
    try:
        known = Carrier(carrier.upper())
    except ValueError:
        names = ", ".join(c.value for c in Carrier)
        return user_errors(404, [{"code": "NOT_FOUND", "field": "carrier", "message": names}])
    if not machine.unchecked and not speaks_for_carrier(machine.speaks_for, known.value):
        # One carrier's key reports for that carrier only (and the cards' use case refuses a
        # report on a card another carrier reports on).
        message = f"the key speaks for '{machine.speaks_for}', not '{known.value}'"
        return user_errors(403, [{"code": "FORBIDDEN", "field": "carrier", "message": message}])
    try:
        batch = CarrierReports.model_validate_json(body)
    except ValidationError as exc:
        return invalid(str(exc))
    states = [
        CardStateReport(r.report_id, known, r.iccid, r.raw_state, r.reported_at)
        for r in batch.reports
        if isinstance(r, StateReport)
    ]
    fenrun = request.app.state.fenrun
    try:
        usage = [
            r.usage(fenrun.settings.zone) for r in batch.reports if isinstance(r, UsageReportIn)
        ]
        done = await run_in_threadpool(
            fenrun.carrier_reports.record, machine.subject, states, usage, known.value
        )
    except LedgerError as exc:
        return refused(422, exc)
    return JSONResponse(
        {
            "recorded": done.recorded,
            "duplicates": done.duplicates,
            "errors": done.errors,
            "userErrors": [],
        }
    )
