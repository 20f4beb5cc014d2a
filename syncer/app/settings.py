"""Settings from the environment or a ``.env`` file in the working directory.

Names are a contract (docs INTERFACE.md, "Settings"): a field ``report_timezone`` is read
from ``REPORT_TIMEZONE``. Use ``load_settings()`` rather than ``Settings()``: it turns
pydantic's multi-line ``ValidationError`` into one ``ConfigError`` line per problem that
names the variable and never shows a secret.

A delivery channel declares its own settings with itself (``syncer.deliver.channel``);
``Settings`` inherits every registered channel's, so their variables stay flat
(``SMTP_HOST``) and are loaded, validated and redacted like the others.

The small parsers (``parse_stripe_key``, ``parse_fx_rates``, ``parse_report_schedule``,
...) are pure and raise ``ValueError`` with a message fit for a user; the validators just
call them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from reports import fx
from reports.alerts import WeeklyDue, parse_weekly
from reports.consolidate import DEFAULT_MATCH_KEY, parse_match_key
from reports.errors import BadSetting
from reports.metrics.segments import (
    DEFAULT_ARR_BANDS,
    DEFAULT_SEGMENT_BY,
    parse_arr_bands,
    parse_segment_by,
)
from reports.options import ChurnRecognition, DiscountMode, UsageInMrr
from syncer.app.logging import redact, register_secret
from syncer.app.values import CommaList, is_account_id, is_report_account
from syncer.app.values import parse_http_url as _parse_http_url
from syncer.app.values import show_input as _show
from syncer.deliver import registry
from syncer.errors import ConfigError

__all__ = [
    "ReportSchedule",
    "Settings",
    "StripeKeyInfo",
    "load_settings",
    "parse_database_url",
    "parse_fx_rates",
    "parse_report_schedule",
    "parse_digest_weekly",
    "parse_stripe_key",
]

# Stripe's documented per-mode rate limits (requests/second) and the share we use, so
# the dashboard, webhooks and other integrations on the same account keep headroom.
STRIPE_LIVE_RPS = 100
STRIPE_TEST_RPS = 25
# Stripe also limits each endpoint (GET /v1/charges, GET /v1/invoices, ...) to 25
# requests/s unless documented otherwise: a backfill spread over three big lists at the
# global budget would exceed it on each.
STRIPE_ENDPOINT_RPS = 25
RPS_SHARE = Decimal("0.8")

# Real key bodies are 24 (legacy) to ~100 characters; 16 catches truncated pastes and
# placeholders like "sk_test_xxx" without rejecting any real key.
MIN_KEY_BODY = 16


# --------------------------------------------------------------------------- parsers


@dataclass(frozen=True)
class StripeKeyInfo:
    kind: Literal["secret", "restricted"]
    livemode: bool


_KEY_PREFIXES: dict[str, StripeKeyInfo] = {
    "sk_live_": StripeKeyInfo("secret", True),
    "sk_test_": StripeKeyInfo("secret", False),
    "rk_live_": StripeKeyInfo("restricted", True),
    "rk_test_": StripeKeyInfo("restricted", False),
}
_KEY_BODY = re.compile(r"[A-Za-z0-9]+", re.ASCII)


def parse_stripe_key(key: str) -> StripeKeyInfo:
    """Kind and mode of a Stripe API key; ``ValueError`` (never echoing the key) if not one."""
    key = key.strip()
    if key.startswith("pk_"):
        raise ValueError(
            "STRIPE_API_KEY looks like a publishable key (pk_…); use a secret or restricted key"
        )
    if key.startswith("whsec_"):
        raise ValueError(
            "STRIPE_API_KEY looks like a webhook signing secret (whsec_…); "
            "use a secret or restricted key"
        )
    for prefix, info in _KEY_PREFIXES.items():
        if key.startswith(prefix):
            body = key[len(prefix) :]
            if len(body) < MIN_KEY_BODY or not _KEY_BODY.fullmatch(body):
                raise ValueError(
                    f"STRIPE_API_KEY starts with {prefix} but the rest is not a key "
                    f"(expected at least {MIN_KEY_BODY} letters and digits); "
                    "copy the whole key from the Stripe dashboard"
                )
            return info
    raise ValueError(
        "STRIPE_API_KEY is not a Stripe secret or restricted key; "
        "it should start with sk_live_, sk_test_, rk_live_ or rk_test_"
    )


_CURRENCY = re.compile(r"[a-z]{3}", re.ASCII)


def parse_currency(text: str) -> str:
    """A 3-letter ISO 4217 code, lower-cased as Stripe spells it."""
    code = text.strip().lower()
    if not _CURRENCY.fullmatch(code):
        raise ValueError(f"{_show(text)} is not a 3-letter currency code such as usd or eur")
    return code


def parse_fx_rates(text: str) -> dict[str, Decimal]:
    """``eur=1.08,gbp=1.27`` → ``{"eur": Decimal("1.08"), ...}``: the report's own parser
    (``reports.fx``), its error as the ``ValueError`` a validator raises."""
    try:
        return fx.parse_fx_rates(text)
    except BadSetting as exc:
        raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class ReportSchedule:
    """Send on the Nth business day of the month at HH:MM in ``REPORT_TIMEZONE``."""

    business_day: int
    hour: int
    minute: int

    @property
    def at(self) -> time:
        return time(self.hour, self.minute)

    def __str__(self) -> str:
        return f"{self.business_day} {self.hour:02d}:{self.minute:02d}"


# No month has more than 23 business days, so a larger N would never fire.
MAX_BUSINESS_DAY = 23
_SCHEDULE = re.compile(r"\s*([0-9]{1,2})\s+([0-9]{1,2}):([0-9]{2})\s*", re.ASCII)


def parse_report_schedule(text: str) -> ReportSchedule:
    """``"3 09:00"`` → ``ReportSchedule(3, 9, 0)``."""
    m = _SCHEDULE.fullmatch(text)
    if not m:
        raise ValueError(
            f"{_show(text)} is not 'DAY HH:MM'; write e.g. '3 09:00' "
            "for the 3rd business day at 09:00"
        )
    day, hour, minute = (int(g) for g in m.groups())
    if not 1 <= day <= MAX_BUSINESS_DAY:
        raise ValueError(f"business day {day} is out of range; use 1 to {MAX_BUSINESS_DAY}")
    if hour > 23 or minute > 59:
        raise ValueError(f"{hour:02d}:{minute:02d} is not a time of day; use 00:00 to 23:59")
    return ReportSchedule(day, hour, minute)


def parse_digest_weekly(text: str) -> WeeklyDue | None:
    """``"mon 09:00"`` → ``WeeklyDue(0, 09:00)``; ``"off"`` → None (no digest)."""
    if text.strip().lower() in ("off", "no", "none", "false", "0"):
        return None
    return parse_weekly(text)


_DB_DRIVERS = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}


def parse_database_url(text: str) -> str:
    """Normalise a database URL; PostgreSQL always goes through psycopg 3."""
    # Imported here so that loading settings costs nothing for commands that never
    # touch SQLAlchemy's engine machinery until they need it.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    hint = "use sqlite:///path.db or postgresql+psycopg://user@host/dbname"
    try:
        url = make_url(text.strip())
    except (ArgumentError, ValueError):
        # The URL may hold a password: say what is wrong, never show it.
        raise ValueError(f"not a database URL; {hint}") from None
    driver = _DB_DRIVERS.get(url.drivername)
    if driver is None:
        raise ValueError(f"unsupported database driver {url.drivername!r}; {hint}")
    if driver.startswith("postgresql") and not url.host and not url.query.get("host"):
        raise ValueError(f"a PostgreSQL URL needs a host; {hint}")
    if any(part is not None and part != part.strip() for part in (url.host, url.database)):
        # "sqlite:// ?" names a host " ", "sqlite:///x.db ?" a file "x.db ": typos, never meant.
        raise ValueError(f"not a database URL (blanks around its host or database name); {hint}")
    return url.set(drivername=driver).render_as_string(hide_password=False)


def _split_list(value: Any) -> Any:
    """Comma-separated string → tuple of non-empty stripped items (other types untouched)."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


# --------------------------------------------------------------------------- settings

# The delivery channels' credentials (SMTP_PASSWORD, SLACK_BOT_TOKEN, ...).
_CHANNEL_SECRET_FIELDS = tuple(name for channel in registry.CHANNELS for name in channel.secret_settings)


# The settings written as one line of text, and what reads each.
_TEXT_PARSERS: dict[str, Callable[[str], Any]] = {
    "fx_rates": parse_fx_rates, "segment_by": parse_segment_by, "segment_arr_bands": parse_arr_bands,
    "report_schedule": parse_report_schedule, "digest_weekly": parse_digest_weekly,
}


class _SyncAndReportSettings(BaseModel):
    """The sync's and the report's fields (``Settings`` validates them)."""

    # Stripe
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    stripe_accounts: CommaList = ()
    stripe_api_version: str | None = None  # None = the version pinned by the stripe SDK

    # Sync tuning
    stripe_max_rps: float | None = Field(default=None, gt=0)  # None = 80% of the key's limit
    stripe_max_rps_per_endpoint: float | None = Field(default=None, gt=0)  # None = 80% of 25
    stripe_max_concurrency: int = Field(default=64, ge=1)  # a backfill keeps in flight what it needs, up to this
    stripe_retry_budget_seconds: float = Field(default=300, ge=0)
    stripe_timeout_seconds: float = Field(default=80, gt=0)  # longest wait to connect or for the next bytes
    events_overlap_seconds: int = Field(default=60, ge=60)
    events_lag_seconds: int = Field(default=5, ge=0)
    reconcile_interval_days: int = Field(default=7, ge=1)

    # Database
    database_url: str = "sqlite:///stripe-nrr.db"

    # Report
    report_currency: str | None = None  # None = the account's default currency
    report_timezone: str = "UTC"
    fx_rates: Annotated[dict[str, Decimal], NoDecode] = Field(default_factory=dict)
    report_schedule: Annotated[ReportSchedule, NoDecode] = ReportSchedule(3, 9, 0)
    report_holidays_country: str | None = None
    report_preliminary: bool = False
    # Segments (METRICS.md §6): the dimensions, and the ARR bands in reporting major units.
    segment_by: Annotated[tuple[str, ...], NoDecode] = DEFAULT_SEGMENT_BY
    segment_arr_bands: Annotated[tuple[int, ...], NoDecode] = DEFAULT_ARR_BANDS
    # Several accounts (STRIPE_ACCOUNTS): whose report is delivered (platform, all or an
    # account id), and how a customer is recognised across accounts.
    report_account: str = "platform"
    account_match_key: str = DEFAULT_MATCH_KEY

    # Metrics (METRICS.md)
    discount_mode: DiscountMode = DiscountMode.ALL_ACTIVE
    churn_recognition: ChurnRecognition = ChurnRecognition.PERIOD_END
    past_due_grace_days: int = Field(default=30, ge=0)
    usage_in_mrr: UsageInMrr = UsageInMrr.NONE


class _DaemonSettings(BaseModel):
    """The daemon's fields (``Settings`` validates them)."""

    sync_interval_minutes: int = Field(default=15, ge=1)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    health_port: int | None = Field(default=None, ge=0, le=65535)  # 0 = any free port
    healthcheck_url: str | None = None

    # The dashboard (nrr serve): off unless WEB_PORT is set; every page needs a login.
    web_port: int | None = Field(default=None, ge=0, le=65535)
    web_host: str = "127.0.0.1"
    web_password_hash: SecretStr | None = None  # argon2, from `nrr web hash-password`
    web_auth_header: str | None = None  # a user name set by an SSO proxy …
    web_trusted_proxies: CommaList = ()  # … accepted only from these addresses
    # TLS served by the dashboard itself (PEM files); a TLS proxy in front needs neither.
    web_tls_cert_file: Path | None = None
    web_tls_key_file: Path | None = None

    # Movement alerts and the weekly digest (docs/ALERTS.md), posted to the report's Slack
    alerts: bool = False  # ALERTS=on|off
    alert_min_mrr_share_pct: Decimal = Field(default=Decimal("0.5"), ge=0, le=100)  # of the month-start MRR
    alert_min_mrr: Decimal = Field(default=Decimal(50), ge=0)  # major units of the reporting currency
    digest_weekly: Annotated[WeeklyDue | None, NoDecode] = None  # "mon 09:00" in REPORT_TIMEZONE; off


if TYPE_CHECKING:
    # Typed where each channel declares them: the rest of the code does not read them.
    class _ChannelSettings(BaseModel):
        pass
else:
    # Later bases come first in the fields' order: reversed, the channels' fields follow
    # the registry's order.
    _ChannelSettings = create_model(
        "_ChannelSettings", __base__=tuple(channel.settings for channel in reversed(registry.CHANNELS))
    )


class Settings(_DaemonSettings, _ChannelSettings, _SyncAndReportSettings, BaseSettings):
    """Every setting of stripe-nrr; see ``.env.example`` for meanings and defaults.

    Fields, in this order (the order of several problems in one error line): the sync's
    and the report's, each delivery channel's, the daemon's.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",  # a shared .env may hold other tools' variables
        env_ignore_empty=True,  # `REPORT_CURRENCY=` in .env means "not set"
        frozen=True,
        validate_default=False,
    )

    # ---------------------------------------------------------------- validators

    @field_validator(
        "discount_mode",
        "churn_recognition",
        "usage_in_mrr",
        "log_format",
        "log_level",
        mode="before",
    )
    @classmethod
    def _lower_choice(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("stripe_api_key", mode="before")
    @classmethod
    def _check_key(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str):
            parse_stripe_key(raw)
            return raw.strip()
        return value

    @field_validator("stripe_api_base")
    @classmethod
    def _check_stripe_base(cls, value: str) -> str:
        return _parse_http_url(value, trailing_slash=False)

    @field_validator("healthcheck_url")
    @classmethod
    def _check_healthcheck(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return _parse_http_url(value, trailing_slash=False)
        except ValueError:
            # A ping URL carries its token (e.g. a healthchecks.io UUID) and is listed in
            # _SECRET_FIELDS: say what is wrong without echoing it (found by test_fuzz).
            raise ValueError("is not an http(s) URL; paste the whole ping URL") from None

    @field_validator("stripe_accounts", mode="before")
    @classmethod
    def _check_accounts(cls, value: Any) -> Any:
        value = _split_list(value)
        if isinstance(value, (tuple, list)):
            seen: dict[str, None] = {}
            for item in value:
                if not isinstance(item, str) or not is_account_id(item):
                    raise ValueError(f"{_show(str(item))} is not a Stripe account id (acct_…)")
                seen.setdefault(item, None)
            return tuple(seen)
        return value

    @field_validator("stripe_api_version")
    @classmethod
    def _check_api_version(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(\.[a-z_]+)?", value, re.ASCII):
            raise ValueError(f"{_show(value)} is not a Stripe API version such as 2025-03-31.basil")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        return parse_database_url(value)

    @field_validator("report_currency")
    @classmethod
    def _check_currency(cls, value: str | None) -> str | None:
        return None if value is None else parse_currency(value)

    @field_validator("report_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        name = value.strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: "Europe" is a directory; ValueError: absolute or odd paths.
            raise ValueError(
                f"unknown time zone {_show(name)}; use an IANA name such as Europe/Paris"
            ) from None
        return name

    @field_validator(*_TEXT_PARSERS, mode="before")
    @classmethod
    def _parse_text(cls, value: Any, info: ValidationInfo) -> Any:
        # Settings written as one line of text (FX_RATES=eur=1.08,…), each with its parser.
        return _TEXT_PARSERS[str(info.field_name)](value) if isinstance(value, str) else value

    @field_validator("web_password_hash")
    @classmethod
    def _check_password_hash(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("$argon2"):
            raise ValueError("is not an argon2 hash; make one with `nrr web hash-password`")
        return value

    @field_validator("web_trusted_proxies", mode="before")
    @classmethod
    def _check_trusted_proxies(cls, value: Any) -> Any:
        value = _split_list(value)  # WEB_TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1
        # A mistyped entry would be ignored without a word: its proxy's header never believed.
        for proxy in value if isinstance(value, (tuple, list)) else ():
            try:
                ipaddress.ip_network(str(proxy), strict=False)
            except ValueError:
                raise ValueError(f"{_show(str(proxy))} is not an IP address or network (e.g. 127.0.0.1, "
                                 "10.0.0.0/8)") from None
        return value

    @field_validator("web_tls_cert_file", "web_tls_key_file")
    @classmethod
    def _check_tls_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{_show(str(value))} is not a file; give the path of a PEM file")
        return value

    @field_validator("report_account")
    @classmethod
    def _check_report_account(cls, value: str) -> str:
        value = value.strip()
        value = value.lower() if value.lower() in ("platform", "all") else value
        if not is_report_account(value):
            raise ValueError(f"{_show(value)} is not platform, all or a Stripe account id (acct_…)")
        return value

    @field_validator("account_match_key")
    @classmethod
    def _check_match_key(cls, value: str) -> str:
        return parse_match_key(value)

    @field_validator("report_holidays_country")
    @classmethod
    def _check_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().upper()
        # ISO 3166-1 alpha-2, optionally with a subdivision ("US-CA"), as `holidays` takes.
        if not re.fullmatch(r"[A-Z]{2}(-[A-Z0-9]{1,3})?", code, re.ASCII):
            raise ValueError(f"{_show(value)} is not a country code such as US, FR or US-CA")
        return code

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        cur = self.report_currency
        if cur is not None and cur in self.fx_rates and self.fx_rates[cur] != 1:
            raise ValueError(
                f"FX_RATES: {cur} is the reporting currency; its rate must be 1 or omitted"
            )
        if self.report_account.startswith("acct_") and self.report_account not in self.stripe_accounts:
            raise ValueError(f"REPORT_ACCOUNT: {self.report_account} is not in STRIPE_ACCOUNTS; add it there "
                             "or use platform or all")
        if (self.web_tls_cert_file is None) != (self.web_tls_key_file is None):
            # uvicorn would take a certificate file holding its key too, but a half-set
            # pair is far more often a forgotten line than that.
            raise ValueError("WEB_TLS_CERT_FILE and WEB_TLS_KEY_FILE go together: set both, or neither")
        self._register_secrets()
        return self

    def _register_secrets(self) -> None:
        """Teach the log redactor every secret value we hold (see syncer.app.logging)."""
        channel_secrets = [getattr(self, name) for name in _CHANNEL_SECRET_FIELDS]
        for secret in (self.stripe_api_key, self.web_password_hash, *channel_secrets):
            if secret is not None:
                register_secret(secret.get_secret_value() if isinstance(secret, SecretStr) else str(secret))
        from sqlalchemy.engine import make_url

        password = make_url(self.database_url).password
        if password:
            register_secret(str(password))

    # ---------------------------------------------------------------- derived

    @property
    def key_info(self) -> StripeKeyInfo | None:
        key = self.stripe_api_key
        return None if key is None else parse_stripe_key(key.get_secret_value())

    @property
    def key_kind(self) -> Literal["secret", "restricted"] | None:
        """``secret`` (sk_) or ``restricted`` (rk_); None when no key is set."""
        info = self.key_info
        return None if info is None else info.kind

    @property
    def livemode(self) -> bool | None:
        """True for a live key, False for a test key, None when no key is set."""
        info = self.key_info
        return None if info is None else info.livemode

    @property
    def default_max_rps(self) -> float:
        """80% of Stripe's limit for the key's mode (the test limit when no key is set)."""
        limit = STRIPE_LIVE_RPS if self.livemode else STRIPE_TEST_RPS
        return float(limit * RPS_SHARE)

    @property
    def max_rps_per_endpoint(self) -> float:
        """The request rate for any one list endpoint (never above the global one)."""
        own = self.stripe_max_rps_per_endpoint
        if own is None:
            # 80% of Stripe's 25/s, scaled like STRIPE_MAX_RPS is to its default: a budget
            # lowered to be gentle, or raised with Stripe's agreement, moves both.
            own = float(STRIPE_ENDPOINT_RPS * RPS_SHARE) * self.max_rps / self.default_max_rps
        return min(self.max_rps, own)

    @property
    def max_rps(self) -> float:
        """The request rate the sync engine should hold to."""
        return self.stripe_max_rps if self.stripe_max_rps is not None else self.default_max_rps

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.report_timezone)

    def require_stripe_key(self) -> str:
        """The key's value, or ConfigError for commands that cannot work without it."""
        if self.stripe_api_key is None:
            raise ConfigError(
                "STRIPE_API_KEY is not set; put your Stripe secret or restricted key "
                "in .env or the environment"
            )
        return self.stripe_api_key.get_secret_value()

    def redacted(self) -> dict[str, Any]:
        """Settings by variable name, JSON-friendly, with every secret shown as ``***``."""
        from sqlalchemy.engine import make_url

        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                shown: Any = "***"
            elif name == "database_url":
                shown = make_url(value).render_as_string(hide_password=True)
            elif isinstance(value, dict):
                shown = {k: str(v) for k, v in value.items()}
            elif isinstance(value, tuple):
                shown = list(value)
            elif isinstance(value, (ReportSchedule, WeeklyDue, Decimal, Path)):
                shown = str(value)
            else:
                shown = value
            out[name.upper()] = shown
        return out


# --------------------------------------------------------------------------- loading

# Fields whose raw input must never appear in an error message.
_SECRET_FIELDS = frozenset(
    {
        "stripe_api_key",
        *_CHANNEL_SECRET_FIELDS,
        "database_url",
        "healthcheck_url",
        "web_password_hash",
    }
)


def _describe(error: Any) -> str:
    """One pydantic error → ``VAR: what is wrong`` (no secret input shown)."""
    loc = error.get("loc") or ()
    field = str(loc[0]) if loc else ""
    var = field.upper()
    msg = str(error.get("msg", "invalid value"))
    if error.get("type") == "value_error":
        msg = msg.removeprefix("Value error, ")
    else:
        msg = msg[:1].lower() + msg[1:]
        if field and field not in _SECRET_FIELDS and "input" in error:
            raw = error["input"]
            if isinstance(raw, (str, int, float)):
                msg += f" (got {_show(str(raw))})"
    if not var or msg.startswith(var):
        return msg
    return f"{var}: {msg}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from overrides > environment > ``.env`` > defaults, or one ConfigError.

    Overrides use field names (``report_timezone="Europe/Paris"``); ``_env_file=None``
    skips the ``.env`` file.
    """
    unknown = sorted(
        k for k in overrides if not k.startswith("_") and k not in Settings.model_fields
    )
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(unknown)}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors(include_url=False)]
        # Belt and braces: scrub anything secret-shaped a message might still carry.
        raise ConfigError(redact("; ".join(dict.fromkeys(problems)))) from None
