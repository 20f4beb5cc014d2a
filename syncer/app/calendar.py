"""Public holidays for the report schedule, from the ``holidays`` package (the only user).

``REPORT_HOLIDAYS_COUNTRY`` is an ISO code, optionally with a subdivision ("US-CA");
unset means weekends only.
"""

from __future__ import annotations

from datetime import date

import holidays as holidays_lib

from syncer.errors import ConfigError


def holidays_for(country: str | None, years: range) -> frozenset[date]:
    """The country's public holidays in ``years`` (empty without a country); computed by
    the package, no network."""
    if not country:
        return frozenset()
    code, _, subdivision = country.partition("-")
    try:
        calendar = holidays_lib.country_holidays(code, subdiv=subdivision or None, years=years)
    except NotImplementedError:
        raise ConfigError(
            f"REPORT_HOLIDAYS_COUNTRY {country} is not a country (or subdivision) the holidays package "
            "knows; use an ISO code such as US, GB, FR or US-CA, or leave it unset"
        ) from None
    return frozenset(calendar.keys())
