"""Settings: sources and precedence, every validation message, the small parsers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reports.alerts import WeeklyDue
from syncer.app import logging as nrr_logging
from syncer.app.settings import (
    MAX_BUSINESS_DAY,
    ReportSchedule,
    Settings,
    StripeKeyInfo,
    load_settings,
    parse_fx_rates,
    parse_report_schedule,
    parse_stripe_key,
)
from syncer.errors import ConfigError

# Fake keys shaped like real ones (bodies of 24+ letters and digits).
SK_TEST = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
SK_LIVE = "sk_live_51HxYzAbCdEfGhIjKlMnOpQrSt"
RK_TEST = "rk_test_51HxYzAbCdEfGhIjKlMnOpQrSt"
RK_LIVE = "rk_live_51HxYzAbCdEfGhIjKlMnOpQrSt"


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No setting from the developer's environment, an empty working directory."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    nrr_logging._clear_registered_secrets()


def config_error(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------ sources


def test_defaults_without_env_or_file() -> None:
    s = load_settings()
    assert s.stripe_api_key is None
    assert s.stripe_api_base == "https://api.stripe.com"
    assert s.stripe_accounts == ()
    assert s.stripe_api_version is None
    assert s.database_url == "sqlite:///stripe-nrr.db"
    assert s.report_currency is None
    assert s.report_timezone == "UTC"
    assert s.fx_rates == {}
    assert s.report_schedule == ReportSchedule(3, 9, 0)
    assert (s.smtp_port, s.smtp_security) == (587, "starttls")
    assert s.slack_api_base == "https://slack.com/api/"
    assert s.sync_interval_minutes == 15
    assert s.log_format == "auto"
    assert (s.discount_mode, s.churn_recognition) == ("all_active", "period_end")
    assert (s.past_due_grace_days, s.usage_in_mrr) == (30, "none")
    assert (s.stripe_max_rps, s.stripe_max_concurrency) == (None, 64)
    assert s.stripe_retry_budget_seconds == 300
    assert (s.events_overlap_seconds, s.events_lag_seconds) == (60, 5)
    assert s.reconcile_interval_days == 7
    assert (s.health_port, s.healthcheck_url, s.report_holidays_country) == (None, None, None)
    assert s.report_preliminary is False
    assert (s.alerts, s.alert_min_mrr_share_pct, s.alert_min_mrr, s.digest_weekly) == (False, Decimal("0.5"), 50, None)


def test_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "STRIPE_API_KEY": SK_LIVE,
        "STRIPE_ACCOUNTS": "acct_1Abc, acct_2Def,,acct_1Abc",
        "STRIPE_API_VERSION": "2025-03-31.basil",
        "DATABASE_URL": "postgres://nrr:pw@db.internal:5432/nrr",
        "REPORT_CURRENCY": "EUR",
        "REPORT_TIMEZONE": "Europe/Paris",
        "FX_RATES": "usd=0.92, GBP=1.17",
        "REPORT_SCHEDULE": "5 7:30",
        "REPORT_EMAIL_TO": "Ann Lee <ann@example.com>, bob@example.org",
        "REPORT_EMAIL_FROM": "nrr@example.com",
        "SYNC_INTERVAL_MINUTES": "5",
        "LOG_FORMAT": "JSON",
        "DISCOUNT_MODE": "forever_only",
        "USAGE_IN_MRR": "trailing_3m_average",
        "REPORT_PRELIMINARY": "true",
        "REPORT_HOLIDAYS_COUNTRY": "us-ca",
        "STRIPE_MAX_RPS": "12.5",
        "HEALTH_PORT": "8080",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = load_settings()
    assert s.require_stripe_key() == SK_LIVE
    assert s.stripe_accounts == ("acct_1Abc", "acct_2Def")
    assert s.stripe_api_version == "2025-03-31.basil"
    assert s.database_url == "postgresql+psycopg://nrr:pw@db.internal:5432/nrr"
    assert s.report_currency == "eur"
    assert s.tz.key == "Europe/Paris"
    assert s.fx_rates == {"usd": Decimal("0.92"), "gbp": Decimal("1.17")}
    assert s.report_schedule == ReportSchedule(5, 7, 30)
    assert s.report_email_to == ("Ann Lee <ann@example.com>", "bob@example.org")
    assert s.report_email_from == "nrr@example.com"
    assert s.sync_interval_minutes == 5
    assert s.log_format == "json"
    assert s.discount_mode == "forever_only"
    assert s.usage_in_mrr == "trailing_3m_average"
    assert s.report_preliminary is True
    assert s.report_holidays_country == "US-CA"
    assert s.max_rps == 12.5
    assert s.health_port == 8080


def test_reads_dotenv_in_working_directory(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean / ".env").write_text(
        "# comment\n"
        f"STRIPE_API_KEY={RK_TEST}\n"
        "REPORT_TIMEZONE=America/New_York\n"
        "SMTP_HOST=\n"  # empty = not set
        "SMTP_PASSWORD='p@ss word'\n"
        "OTHER_TOOL_SETTING=ignored\n"
        "SYNC_INTERVAL_MINUTES=30\n"
        "FX_RATES=eur=1.08,gbp=1.27\n"
        'REPORT_EMAIL_TO="ann@example.com, bob@example.org"\n'
        "REPORT_SCHEDULE=2 18:45\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SYNC_INTERVAL_MINUTES", "10")  # the environment wins over .env
    s = load_settings()
    assert s.key_kind == "restricted" and s.livemode is False
    assert s.report_timezone == "America/New_York"
    assert s.smtp_host is None
    assert s.smtp_password is not None and s.smtp_password.get_secret_value() == "p@ss word"
    assert s.sync_interval_minutes == 10
    assert s.fx_rates == {"eur": Decimal("1.08"), "gbp": Decimal("1.27")}
    assert s.report_email_to == ("ann@example.com", "bob@example.org")
    assert s.report_schedule == ReportSchedule(2, 18, 45)
    # Overrides win over both; _env_file=None ignores the file.
    assert load_settings(sync_interval_minutes=60).sync_interval_minutes == 60
    assert load_settings(_env_file=None).report_timezone == "UTC"


def test_empty_environment_value_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORT_CURRENCY", "")
    monkeypatch.setenv("SMTP_PORT", "")
    s = load_settings()
    assert s.report_currency is None and s.smtp_port == 587


def test_unknown_override_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="report_timezon"):
        load_settings(report_timezon="UTC")


def test_settings_are_immutable() -> None:
    s = load_settings()
    with pytest.raises(ValidationError, match="frozen"):
        field = "sync_interval_minutes"  # by name: mypy need not know the model is frozen
        setattr(s, field, 1)


# ------------------------------------------------------------------ validation messages

SECRET = "hunter2hunter2xyz"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"report_timezone": "Mars/Base"},
            "REPORT_TIMEZONE: unknown time zone 'Mars/Base'; use an IANA name such as Europe/Paris",
        ),
        ({"report_timezone": "Europe"}, "REPORT_TIMEZONE: unknown time zone 'Europe'"),
        ({"report_timezone": "../../etc/passwd"}, "REPORT_TIMEZONE: unknown time zone"),
        (
            {"report_currency": "dollars"},
            "REPORT_CURRENCY: 'dollars' is not a 3-letter currency code",
        ),
        ({"fx_rates": "eur=1.08,gbp"}, "FX_RATES: 'gbp' is not currency=rate"),
        ({"fx_rates": "eur=1.08,gbp=abc"}, "FX_RATES: 'gbp=abc' is not currency=rate"),
        ({"fx_rates": "eur=0"}, "FX_RATES: 'eur=0': a rate must be greater than 0"),
        ({"fx_rates": "eur=1,EUR=2"}, "FX_RATES: eur is given twice"),
        (
            {"fx_rates": "usd=1.1", "report_currency": "usd"},
            "FX_RATES: usd is the reporting currency; its rate must be 1 or omitted",
        ),
        ({"report_schedule": "third monday"}, "REPORT_SCHEDULE: 'third monday' is not 'DAY HH:MM'"),
        (
            {"report_schedule": "24 09:00"},
            "REPORT_SCHEDULE: business day 24 is out of range; use 1 to 23",
        ),
        ({"report_schedule": "0 09:00"}, "REPORT_SCHEDULE: business day 0 is out of range"),
        ({"report_schedule": "3 24:00"}, "REPORT_SCHEDULE: 24:00 is not a time of day"),
        ({"digest_weekly": "monday"}, "DIGEST_WEEKLY: 'monday' is not 'DAY HH:MM'; write a weekday and a 24-hour "
                                      "time such as 'mon 09:00', or 'off'"),
        ({"digest_weekly": "funday 09:00"}, "DIGEST_WEEKLY: 'funday' is not a weekday"),
        ({"digest_weekly": "mon 9:60"}, "DIGEST_WEEKLY: 09:60 is not a time of day"),
        ({"alert_min_mrr_share_pct": "101"}, "ALERT_MIN_MRR_SHARE_PCT: input should be less than or equal to 100"),
        ({"alert_min_mrr": "-5"}, "ALERT_MIN_MRR: input should be greater than or equal to 0"),
        ({"alerts": "sometimes"}, "ALERTS: input should be a valid boolean"),
        (
            {"database_url": f"mysql://root:{SECRET}@db/nrr"},
            "DATABASE_URL: unsupported database driver 'mysql'",
        ),
        ({"database_url": f"{SECRET} not a url"}, "DATABASE_URL: not a database URL"),
        (
            {"database_url": f"postgresql://u:{SECRET}@/nrr"},
            "DATABASE_URL: a PostgreSQL URL needs a host",
        ),
        (
            {"database_url": f"postgresql+psycopg2://u:{SECRET}@h/nrr"},
            "DATABASE_URL: unsupported database driver 'postgresql+psycopg2'",
        ),
        (
            {"stripe_accounts": "acct_1,cus_123"},
            "STRIPE_ACCOUNTS: 'cus_123' is not a Stripe account id",
        ),
        ({"report_account": "cus_123"}, "REPORT_ACCOUNT: 'cus_123' is not platform, all or a Stripe account id"),
        (
            {"report_account": "acct_1Other", "stripe_accounts": "acct_1Mine"},
            "REPORT_ACCOUNT: acct_1Other is not in STRIPE_ACCOUNTS; add it there or use platform or all",
        ),
        (
            {"report_email_to_by_account": "acct_1A:ann@example.com"},
            "REPORT_EMAIL_TO_BY_ACCOUNT: 'acct_1A:ann@example.com' is not ACCOUNT=ADDRESS",
        ),
        ({"report_email_to_by_account": "all=not-an-address"}, "REPORT_EMAIL_TO_BY_ACCOUNT: 'not-an-address' is not"),
        ({"account_match_key": "phone"}, "ACCOUNT_MATCH_KEY: 'phone' is not email, none or metadata.KEY"),
        ({"segment_by": "plan,tier"}, "SEGMENT_BY: 'tier' is not a dimension"),
        ({"segment_arr_bands": "10,5"}, "SEGMENT_ARR_BANDS: the bounds are not increasing amounts above 0"),
        (
            {"stripe_api_version": "latest"},
            "STRIPE_API_VERSION: 'latest' is not a Stripe API version",
        ),
        (
            {"stripe_api_base": "api.stripe.com"},
            "STRIPE_API_BASE: 'api.stripe.com' is not an http(s) URL",
        ),
        ({"slack_api_base": "ftp://slack"}, "SLACK_API_BASE: 'ftp://slack' is not an http(s) URL"),
        ({"slack_webhook_url": SECRET}, "SLACK_WEBHOOK_URL: is not an http(s) URL"),
        ({"slack_bot_token": SECRET}, "SLACK_BOT_TOKEN: does not look like a Slack bot token"),
        (
            {"smtp_security": "tls"},
            "SMTP_SECURITY: input should be 'starttls', 'ssl' or 'none' (got 'tls')",
        ),
        ({"smtp_port": 70000}, "SMTP_PORT: input should be less than or equal to 65535"),
        ({"smtp_password": 12}, "SMTP_PASSWORD: input should be a valid string"),
        (
            {"sync_interval_minutes": 0},
            "SYNC_INTERVAL_MINUTES: input should be greater than or equal to 1",
        ),
        (
            {"sync_interval_minutes": "often"},
            "SYNC_INTERVAL_MINUTES: input should be a valid integer",
        ),
        (
            {"past_due_grace_days": -1},
            "PAST_DUE_GRACE_DAYS: input should be greater than or equal to 0",
        ),
        (
            {"events_overlap_seconds": 30},
            "EVENTS_OVERLAP_SECONDS: input should be greater than or equal to 60",
        ),
        ({"stripe_max_rps": 0}, "STRIPE_MAX_RPS: input should be greater than 0"),
        (
            {"stripe_max_concurrency": 0},
            "STRIPE_MAX_CONCURRENCY: input should be greater than or equal to 1",
        ),
        (
            {"log_format": "xml"},
            "LOG_FORMAT: input should be 'auto', 'json' or 'console' (got 'xml')",
        ),
        ({"discount_mode": "some"}, "DISCOUNT_MODE: input should be"),
        ({"churn_recognition": "never"}, "CHURN_RECOGNITION: input should be"),
        ({"usage_in_mrr": "all"}, "USAGE_IN_MRR: input should be"),
        (
            {"report_email_to": "ann@example.com, not-an-address"},
            "REPORT_EMAIL_TO: 'not-an-address' is not an email address",
        ),
        ({"report_email_from": "nobody"}, "REPORT_EMAIL_FROM: 'nobody' is not an email address"),
        (
            {"report_holidays_country": "France"},
            "REPORT_HOLIDAYS_COUNTRY: 'France' is not a country code",
        ),
        ({"health_port": 99999}, "HEALTH_PORT: input should be less than or equal to 65535"),
        (
            {"healthcheck_url": "hc-ping.com/abc"},
            "HEALTHCHECK_URL: is not an http(s) URL; paste the whole ping URL",  # never echoed
        ),
        ({"report_preliminary": "maybe"}, "REPORT_PRELIMINARY: input should be a valid boolean"),
    ],
)
def test_each_validation_error_is_one_line_naming_the_variable(
    overrides: dict[str, Any], expected: str
) -> None:
    message = config_error(**overrides)
    assert message.startswith(expected)
    assert SECRET not in message


def test_validation_error_from_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPORT_TIMEZONE", "Mars/Base")
    assert config_error() == (
        "REPORT_TIMEZONE: unknown time zone 'Mars/Base'; use an IANA name such as Europe/Paris"
    )


def test_several_problems_are_joined_on_one_line() -> None:
    message = config_error(report_timezone="Nowhere", sync_interval_minutes=0, fx_rates="x")
    parts = message.split("; ")
    assert any(p.startswith("REPORT_TIMEZONE:") for p in parts)
    assert any(p.startswith("SYNC_INTERVAL_MINUTES:") for p in parts)
    assert any(p.startswith("FX_RATES:") for p in parts)


def test_config_error_is_a_give_up_with_config_exit_code() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(report_timezone="Nowhere")
    assert info.value.exit_code == 78


# ------------------------------------------------------------------ Stripe key


@pytest.mark.parametrize(
    ("key", "kind", "livemode", "rps"),
    [
        (SK_TEST, "secret", False, 20.0),
        (SK_LIVE, "secret", True, 80.0),
        (RK_TEST, "restricted", False, 20.0),
        (RK_LIVE, "restricted", True, 80.0),
        (f"  {SK_TEST}\n", "secret", False, 20.0),  # pasted with whitespace
    ],
)
def test_key_kinds(key: str, kind: str, livemode: bool, rps: float) -> None:
    s = load_settings(stripe_api_key=key)
    assert (s.key_kind, s.livemode, s.default_max_rps, s.max_rps) == (kind, livemode, rps, rps)
    assert s.require_stripe_key() == key.strip()
    assert load_settings(stripe_api_key=key, stripe_max_rps=3).max_rps == 3
    # Each endpoint: 80% of Stripe's 25/s, never more than the whole budget, scaled with it.
    assert s.max_rps_per_endpoint == min(rps, 20.0)
    assert load_settings(stripe_api_key=key, stripe_max_rps=rps * 10).max_rps_per_endpoint == min(rps, 20.0) * 10
    assert load_settings(stripe_api_key=key, stripe_max_rps_per_endpoint=5).max_rps_per_endpoint == 5


def test_publishable_key_is_refused_with_the_documented_message() -> None:
    assert config_error(stripe_api_key="pk_live_51HxYzAbCdEfGhIjKlMnOpQrSt") == (
        "STRIPE_API_KEY looks like a publishable key (pk_…); use a secret or restricted key"
    )


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("whsec_51HxYzAbCdEfGhIjKlMnOpQrSt", "STRIPE_API_KEY looks like a webhook signing secret"),
        ("sk_live_51HxYz", "STRIPE_API_KEY starts with sk_live_ but the rest is not a key"),
        ("sk_test_51HxYzAbCdEf-hIjKlMnOpQrSt", "STRIPE_API_KEY starts with sk_test_ but"),
        ("rk_test_", "STRIPE_API_KEY starts with rk_test_ but"),
        ("Bearer sk_test_51HxYzAbCdEfGhIjKlMnOpQrSt", "STRIPE_API_KEY is not a Stripe secret"),
        ("hunter2hunter2hunter2", "STRIPE_API_KEY is not a Stripe secret or restricted key"),
        ("", "STRIPE_API_KEY is not a Stripe secret or restricted key"),
    ],
)
def test_bad_keys_are_refused_without_echoing_them(key: str, expected: str) -> None:
    message = config_error(stripe_api_key=key)
    assert message.startswith(expected)
    body = key.split("_")[-1]
    if body:
        assert body not in message


def test_missing_key_is_fine_until_required() -> None:
    s = load_settings()
    assert (s.key_kind, s.livemode, s.default_max_rps) == (None, None, 20.0)
    with pytest.raises(ConfigError) as info:
        s.require_stripe_key()
    assert str(info.value) == (
        "STRIPE_API_KEY is not set; put your Stripe secret or restricted key "
        "in .env or the environment"
    )


# ------------------------------------------------------------------ parsers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("eur=1.08,gbp=1.27", {"eur": Decimal("1.08"), "gbp": Decimal("1.27")}),
        (" EUR = 1.08 , gbp=.5 ,", {"eur": Decimal("1.08"), "gbp": Decimal("0.5")}),
        ("jpy=0.0067", {"jpy": Decimal("0.0067")}),
        ("", {}),
        (",,", {}),
    ],
)
def test_fx_rates_parse(text: str, expected: dict[str, Decimal]) -> None:
    assert parse_fx_rates(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "eur",
        "eur=",
        "=1.0",
        "euro=1",
        "eur=1e3",
        "eur=-1",
        "eur=NaN",
        "eur=1,08",
        "eur=inf",
        "eur==1",
        "eu=1",
    ],
)
def test_fx_rates_refuse(text: str) -> None:
    with pytest.raises(ValueError):
        parse_fx_rates(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 09:00", ReportSchedule(3, 9, 0)),
        ("1 0:00", ReportSchedule(1, 0, 0)),
        (" 23   23:59 ", ReportSchedule(23, 23, 59)),
    ],
)
def test_report_schedule_parse(text: str, expected: ReportSchedule) -> None:
    schedule = parse_report_schedule(text)
    assert schedule == expected
    assert parse_report_schedule(str(schedule)) == schedule  # str round-trips
    assert schedule.at.hour == expected.hour and schedule.at.minute == expected.minute


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3",
        "09:00",
        "3 9",
        "3 09:60",
        "3 25:00",
        "24 09:00",
        "0 09:00",
        "-1 09:00",
        "3 09:00:00",
        "3rd 09:00",
        "3 9.00",
        "３ 09:00",
    ],
)
def test_report_schedule_refuse(text: str) -> None:
    with pytest.raises(ValueError):
        parse_report_schedule(text)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///stripe-nrr.db", "sqlite:///stripe-nrr.db"),
        ("sqlite:////var/lib/nrr/nrr.db", "sqlite:////var/lib/nrr/nrr.db"),
        ("sqlite://", "sqlite://"),
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u:p@h:5433/db", "postgresql+psycopg://u:p@h:5433/db"),
        (
            "postgresql+psycopg://u@h/db?sslmode=require",
            "postgresql+psycopg://u@h/db?sslmode=require",
        ),
    ],
)
def test_database_url_normalised(url: str, expected: str) -> None:
    assert load_settings(database_url=url).database_url == expected


def test_smtp_ssl_defaults_to_port_465_unless_given() -> None:
    assert load_settings(smtp_security="ssl").smtp_port == 465
    assert load_settings(smtp_security="ssl", smtp_port=587).smtp_port == 587
    assert load_settings(smtp_security="none").smtp_port == 587


def test_api_bases_are_normalised() -> None:
    s = load_settings(
        stripe_api_base="http://127.0.0.1:12111/", slack_api_base="http://127.0.0.1:9/api"
    )
    assert s.stripe_api_base == "http://127.0.0.1:12111"
    assert s.slack_api_base == "http://127.0.0.1:9/api/"


# ------------------------------------------------------------------ secrets


def test_redacted_shows_no_secret() -> None:
    s = load_settings(
        stripe_api_key=SK_LIVE,
        smtp_password="correct horse battery",
        slack_bot_token="xoxb-1234-5678-abcdefghijkl",
        slack_webhook_url="https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX",
        database_url="postgresql://nrr:dbsecretpw@db/nrr",
        fx_rates="eur=1.08",
    )
    shown = s.redacted()
    text = json.dumps(shown)  # JSON-friendly as a whole
    for secret in ("51HxYzAbCdEf", "correct horse", "abcdefghijkl", "XXXXXXXXXXXX", "dbsecretpw"):
        assert secret not in text
    assert shown["STRIPE_API_KEY"] == "***"
    assert shown["SMTP_PASSWORD"] == "***"
    assert shown["DATABASE_URL"] == "postgresql+psycopg://nrr:***@db/nrr"
    assert shown["FX_RATES"] == {"eur": "1.08"}
    assert shown["REPORT_SCHEDULE"] == "3 09:00"
    assert shown["SMTP_USERNAME"] is None
    assert set(shown) == {name.upper() for name in Settings.model_fields}
    assert "51HxYzAbCdEf" not in repr(s)


def test_loading_registers_secrets_with_the_log_redactor() -> None:
    load_settings(smtp_password="plain-words-pw", database_url="postgresql://u:dbpw9876@h/d")
    assert nrr_logging.redact("login with plain-words-pw") == "login with …redacted"
    assert "dbpw9876" not in nrr_logging.redact("password was dbpw9876")


# ------------------------------------------------------------------ fuzz

_MESSAGES_KEY = {
    "STRIPE_API_KEY looks like a publishable key (pk_…); use a secret or restricted key",
    "STRIPE_API_KEY looks like a webhook signing secret (whsec_…); use a secret or restricted key",
    (
        "STRIPE_API_KEY is not a Stripe secret or restricted key; "
        "it should start with sk_live_, sk_test_, rk_live_ or rk_test_"
    ),
} | {
    f"STRIPE_API_KEY starts with {p} but the rest is not a key (expected at least 16 letters "
    "and digits); copy the whole key from the Stripe dashboard"
    for p in ("sk_live_", "sk_test_", "rk_live_", "rk_test_")
}

_key_like = st.one_of(
    st.text(),
    st.builds(
        lambda p, b: p + b,
        st.sampled_from(["sk_live_", "sk_test_", "rk_live_", "rk_test_", "pk_live_", "whsec_"]),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    ),
)


@hyp_settings(max_examples=300, deadline=None)
@given(_key_like)
def test_fuzz_key_parser_only_refuses_with_fixed_messages(key: str) -> None:
    try:
        info = parse_stripe_key(key)
    except ValueError as exc:
        assert str(exc) in _MESSAGES_KEY  # fixed texts: the key can never be echoed
    else:
        assert isinstance(info, StripeKeyInfo)
        assert key.strip()[:3] in ("sk_", "rk_")
    try:
        s = load_settings(_env_file=None, stripe_api_key=key)
    except ConfigError as exc:
        assert str(exc) in _MESSAGES_KEY
    else:
        assert s.require_stripe_key() == key.strip()
    nrr_logging._clear_registered_secrets()


_fx_like = st.one_of(
    st.text(),
    st.lists(
        st.builds(
            lambda c, s, r: f"{c}{s}{r}",
            st.text(alphabet="abcEUR€ 1", max_size=4),
            st.sampled_from(["=", "", "==", " = "]),
            st.one_of(st.decimals(allow_nan=True).map(str), st.text(max_size=6)),
        ),
        max_size=5,
    ).map(",".join),
)


@hyp_settings(max_examples=300, deadline=None)
@given(_fx_like)
def test_fuzz_fx_rates_parser(text: str) -> None:
    try:
        rates = parse_fx_rates(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:
        for code, rate in rates.items():
            assert len(code) == 3 and code.isascii() and code.islower()
            assert rate.is_finite() and rate > 0
    try:
        load_settings(_env_file=None, fx_rates=text)
    except ConfigError as exc:
        assert str(exc).startswith("FX_RATES: ")


_schedule_like = st.one_of(
    st.text(),
    st.builds(
        lambda d, s, h, m: f"{d}{s}{h}:{m}",
        st.integers(-5, 40),
        st.sampled_from([" ", "  ", "", "\t"]),
        st.integers(-1, 30),
        st.one_of(st.integers(0, 70).map(str), st.text(max_size=3)),
    ),
)


@hyp_settings(max_examples=300, deadline=None)
@given(_schedule_like)
def test_fuzz_report_schedule_parser(text: str) -> None:
    try:
        schedule = parse_report_schedule(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:
        assert 1 <= schedule.business_day <= MAX_BUSINESS_DAY
        assert 0 <= schedule.hour <= 23 and 0 <= schedule.minute <= 59
        assert parse_report_schedule(str(schedule)) == schedule
    try:
        load_settings(_env_file=None, report_schedule=text)
    except ConfigError as exc:
        assert str(exc).startswith("REPORT_SCHEDULE: ")


def test_alert_and_digest_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"ALERTS": "on", "ALERT_MIN_MRR_SHARE_PCT": "1.5", "ALERT_MIN_MRR": "20",
                        "DIGEST_WEEKLY": "Friday 16:30"}.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert (s.alerts, s.alert_min_mrr_share_pct, s.alert_min_mrr) == (True, Decimal("1.5"), 20)
    assert s.digest_weekly == WeeklyDue(4, time(16, 30)) and s.redacted()["DIGEST_WEEKLY"] == "fri 16:30"
    monkeypatch.setenv("DIGEST_WEEKLY", "off")
    assert load_settings().digest_weekly is None


# ------------------------------------------------------------------ the dashboard's TLS


def test_the_dashboard_tls_files_go_together_and_must_exist(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("pem"), key.write_text("pem")
    both = load_settings(web_tls_cert_file=str(cert), web_tls_key_file=str(key))
    assert (both.web_tls_cert_file, both.web_tls_key_file) == (cert, key)
    assert both.redacted()["WEB_TLS_CERT_FILE"] == str(cert)
    assert load_settings().web_tls_cert_file is None
    assert config_error(web_tls_cert_file=str(cert)) == (
        "WEB_TLS_CERT_FILE and WEB_TLS_KEY_FILE go together: set both, or neither")
    missing = config_error(web_tls_cert_file=str(cert), web_tls_key_file=str(tmp_path / "nope.pem"))
    assert missing.startswith("WEB_TLS_KEY_FILE: ") and "is not a file; give the path of a PEM file" in missing


def test_each_trusted_proxy_is_an_address_or_a_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1")
    assert load_settings().web_trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    monkeypatch.delenv("WEB_TRUSTED_PROXIES")
    bad = config_error(web_trusted_proxies="10.0.0.0/8,proxy.internal")
    assert bad.startswith("WEB_TRUSTED_PROXIES: ") and "is not an IP address or network" in bad
