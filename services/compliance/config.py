"""Compliance's own settings (HANSE_EMBARGOED_COUNTRIES, HANSE_SCREENING_THRESHOLD, HANSE_SANCTIONS_CSV)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hanse.app import unit_of_work
from hanse.uow import UnitOfWork
from hanse.validators import is_country

SAMPLE_SANCTIONS = Path(__file__).parent / "data" / "sanctions_sample.csv"


class ComplianceConfig(BaseSettings):
    """Compliance knobs: HANSE_EMBARGOED_COUNTRIES, HANSE_SCREENING_THRESHOLD, HANSE_SANCTIONS_CSV."""

    model_config = SettingsConfigDict(env_prefix="HANSE_", extra="ignore")

    # A comma-separated string in the environment ("KP,IR,SY,CU"); parsed by embargoed().
    embargoed_countries: str = "KP,IR,SY,CU"
    screening_threshold: float = Field(88.0, ge=0, le=100)
    # A targets.simple.csv loaded at startup when the sanctions table is empty (default: the sample).
    sanctions_csv: Path | None = None
    # The largest sanctions upload accepted (HANSE_SANCTIONS_UPLOAD_MAX_MB); other routes keep 1 MiB.
    sanctions_upload_max_mb: int = Field(1024, ge=1, le=16384)
    # How often the re-screening job looks for list changes (the contract: re-screened within 60 s).
    rescreen_every_seconds: float = Field(5.0, gt=0, le=60)
    # Who must answer a privacy request before it completes (compliance answers itself at once).
    privacy_departments: str = "marketing,sales,finance,logistics,procurement,gateway"

    def privacy_expected(self) -> list[str]:
        others = [d.strip() for d in self.privacy_departments.split(",") if d.strip()]
        return sorted({*others, "compliance"})

    @field_validator("embargoed_countries")
    @classmethod
    def _countries(cls, value: str) -> str:
        codes = [c.strip().upper() for c in value.split(",") if c.strip()]
        bad = [c for c in codes if not is_country(c)]
        if bad:
            raise ValueError(f"not ISO 3166 alpha-2 country codes: {', '.join(bad)}")
        return ",".join(codes)

    def embargoed(self) -> frozenset[str]:
        return frozenset(c for c in self.embargoed_countries.split(",") if c)

    def sanctions_file(self, env: str) -> Path | None:
        """The file to fill an empty sanctions table from; prod ships no fictitious sample."""
        if self.sanctions_csv is None and env == "prod":
            return None
        return self.sanctions_csv or SAMPLE_SANCTIONS


UoW = UnitOfWork[ComplianceConfig]
# What a route declares to get the request's unit of work.
UoWDep = Annotated[UoW, Depends(unit_of_work)]
