"""``nrr doctor``: check every part stripe-nrr talks to, one line each, sending nothing.

Each check returns a ``Check`` (pass, fail, warn or skip, what was seen, the exact fix).
The checks only read: Stripe gets GETs with ``limit=1``, the database is connected to but
never migrated, and each delivery channel checks itself without sending (its ``check``,
see ``syncer.deliver.channel``). Clients and the clock are passed in so tests can point
them at loopback servers; ``run_doctor`` wires the real ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL, Engine

from reports.errors import OneLineError
from reports.month import last_complete_month
from reports.schedule import next_due_after
from syncer.app.checks import Check
from syncer.app.reporting import report_calendar
from syncer.app.settings import Settings
from syncer.db.engine import check_connection, create_db_engine, describe, parse_url
from syncer.db.migrate import MIGRATIONS, current_revision, head_revision
from syncer.db.store import Store
from syncer.deliver import registry
from syncer.errors import (
    ConfigError,
    NrrError,
    RetryLater,
    StripeAuthError,
    StripeNotFound,
    StripePermissionError,
)
from syncer.stripe.client import StripeApi
from syncer.stripe.ratelimit import TokenBucket
from syncer.stripe.resources import EVENTS, RESOURCES, TEST_CLOCKS, Resource

# A doctor answers in seconds: a flaky Stripe is reported, not waited out.
RETRY_BUDGET_SECONDS = 5.0
STRIPE_TIMEOUT_SECONDS = 20.0
# The last successful sync may lag a few ticks (a long backfill, a retry) before it is news.
STALE_SYNC_INTERVALS = 3


def failed(checks: Sequence[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def render_text(checks: Sequence[Check]) -> str:
    return "".join(c.line() + "\n" for c in checks)


def render_json(checks: Sequence[Check]) -> str:
    data = {"ok": not failed(checks), "checks": [c.as_dict() for c in checks]}
    return json.dumps(data, indent=2) + "\n"


# --------------------------------------------------------------------------- settings


def check_settings(load: Callable[[], Settings]) -> tuple[Check, Settings | None]:
    try:
        settings = load()
    except ConfigError as exc:
        return Check("settings", "fail", str(exc), "correct that variable in .env or the environment"), None
    return Check("settings", "pass", "settings parse"), settings


# --------------------------------------------------------------------------- Stripe


def doctor_api(settings: Settings, account: str | None = None) -> StripeApi:
    """A Stripe client like the sync's, with a retry budget of seconds, not minutes."""
    return StripeApi(
        settings.require_stripe_key(),
        settings.stripe_api_base,
        settings.stripe_api_version,
        TokenBucket(settings.max_rps),
        retry_budget_seconds=RETRY_BUDGET_SECONDS,
        timeout=STRIPE_TIMEOUT_SECONDS,
        account=account,
    )


def _account_label(raw: dict[str, Any]) -> str:
    profile = raw.get("business_profile") or {}
    dashboard = (raw.get("settings") or {}).get("dashboard") or {}
    name = profile.get("name") or dashboard.get("display_name")
    return f"account {raw.get('id')}" + (f" ({name})" if name else "")


def _retry_fix(settings: Settings) -> str:
    return f"check STRIPE_API_BASE ({settings.stripe_api_base}) and the network, then run `nrr doctor` again"


def check_stripe_key(settings: Settings, api: StripeApi) -> tuple[Check, bool]:
    """The key's kind, mode and account; the flag says whether the key can be used at all."""
    info = settings.key_info
    assert info is not None  # the caller checked a key is set
    kind = f"{info.kind} key, {'live' if info.livemode else 'test'} mode"
    try:
        account = api.fetch_account()
    except StripeAuthError:
        return Check("stripe key", "fail", f"{kind}; Stripe rejected it (401)",
                     "check STRIPE_API_KEY: it may be revoked, expired or for another account; "
                     "copy the whole key from the Stripe dashboard"), False
    except StripePermissionError:
        # The sync runs without the account object (it keys rows by a fallback id).
        return Check("stripe key", "warn", f"{kind}; the key may not read its account",
                     "grant the restricted key 'Account: Read' to name the account in reports"), True
    except StripeNotFound:
        return Check("stripe key", "warn", f"{kind}; {settings.stripe_api_base} has no /v1/account "
                     "(a Stripe-compatible server?)"), True
    except RetryLater as exc:
        return Check("stripe key", "fail", f"{kind}; {exc}", _retry_fix(settings)), False
    except NrrError as exc:
        return Check("stripe key", "fail", f"{kind}; {exc}", "check STRIPE_API_BASE and STRIPE_API_VERSION"), False
    return Check("stripe key", "pass", f"{kind}, {_account_label(account)}"), True


def _probe(api: StripeApi, resource: Resource) -> None:
    api.fetch_list_page(resource.path, {**resource.params, "limit": 1}, resource=resource.name,
                        retry_budget=RETRY_BUDGET_SECONDS)


def check_stripe_access(
    settings: Settings, api: StripeApi, resources: Sequence[Resource] = (*RESOURCES, EVENTS)
) -> list[Check]:
    """One GET per list the sync reads: a line per problem, one line for all that pass."""
    readable: list[str] = []
    problems: list[Check] = []
    lists = len(resources)
    for res in resources:
        name = f"stripe {res.name}"
        try:
            _probe(api, res)
        except StripePermissionError as exc:
            # Without test clocks the sync still runs, less the objects on them.
            status: Literal["warn", "fail"] = "warn" if res is TEST_CLOCKS else "fail"
            problems.append(Check(name, status, f"the key may not read {res.name} ({res.path})"
                                  + (": customers and subscriptions on test clocks will not be synced"
                                     if res is TEST_CLOCKS else ""),
                                  f"grant the restricted key '{exc.permission}' permission, or use a secret key"))
        except StripeNotFound:
            if res is TEST_CLOCKS:
                lists -= 1  # a Stripe-compatible server without test clocks has no objects on them
                continue
            problems.append(Check(name, "warn", f"{settings.stripe_api_base} has no {res.path}; "
                                  "the sync will fail there unless the server adds it"))
        except RetryLater as exc:
            problems.append(Check(name, "fail", str(exc), _retry_fix(settings)))
        except NrrError as exc:
            problems.append(Check(name, "fail", str(exc),
                                  "check STRIPE_API_VERSION and that STRIPE_API_BASE is Stripe"))
        else:
            readable.append(res.name)
    head = []
    if readable:
        head = [Check("stripe access", "pass", f"{len(readable)} of {lists} lists readable: "
                      + ", ".join(readable))]
    return head + problems


def check_connected_account(api: StripeApi, account: str) -> Check:
    """A connected account from STRIPE_ACCOUNTS answers a one-row customer list."""
    name = f"stripe {account}"
    try:
        api.fetch_list_page("/v1/customers", {"limit": 1}, resource="customers",
                            retry_budget=RETRY_BUDGET_SECONDS)
    except StripePermissionError:
        return Check(name, "fail", f"the key cannot read connected account {account}",
                     "check STRIPE_ACCOUNTS: the account must be connected to this platform "
                     "and the key allowed to act on it")
    except NrrError as exc:
        return Check(name, "fail", str(exc), "check STRIPE_ACCOUNTS and the network")
    return Check(name, "pass", "connected account readable")


def check_stripe(settings: Settings, make_api: Callable[[Settings, str | None], StripeApi]) -> list[Check]:
    if settings.stripe_api_key is None:
        return [Check("stripe key", "fail", "STRIPE_API_KEY is not set",
                      "put your Stripe secret (sk_…) or restricted (rk_…) key in .env or the environment")]
    api = make_api(settings, None)
    try:
        key_check, usable = check_stripe_key(settings, api)
        if not usable:
            return [key_check, Check("stripe access", "skip", "needs a working STRIPE_API_KEY")]
        lists = (*RESOURCES, EVENTS) if api.livemode else (*RESOURCES, EVENTS, TEST_CLOCKS)
        checks = [key_check, *check_stripe_access(settings, api, lists)]
    finally:
        api.close()
    for account in settings.stripe_accounts:
        connected = make_api(settings, account)
        try:
            checks.append(check_connected_account(connected, account))
        finally:
            connected.close()
    return checks


# --------------------------------------------------------------------------- database


def check_database(settings: Settings) -> tuple[Check, Engine | None]:
    """Reachable and migrated; the engine is returned only when the schema is current.

    Never migrates and never creates a SQLite file: a doctor changes nothing.
    """
    try:
        url = parse_url(settings.database_url)
    except ConfigError as exc:
        return Check("database", "fail", str(exc), "fix DATABASE_URL"), None
    where = describe(url)
    if _missing_sqlite_file(url):
        return Check("database", "fail", f"{where}: the file does not exist yet",
                     "run `nrr db upgrade` to create it, or fix DATABASE_URL"), None
    engine = create_db_engine(settings.database_url, pool_size=1)
    try:
        check_connection(engine)
        current = current_revision(engine)
    except NrrError as exc:
        engine.dispose()
        return Check("database", "fail", str(exc), "start the database or fix DATABASE_URL"), None
    head = head_revision()
    if current == head:
        return Check("database", "pass", f"{where} reachable, migrations current ({head})"), engine
    engine.dispose()
    if current is None:
        return Check("database", "fail", f"{where} reachable but has no schema yet", "run `nrr db upgrade`"), None
    if not _known_revision(current):
        return Check("database", "fail", f"{where} is at revision {current}, newer than this nrr knows",
                     "upgrade stripe-nrr to the version that migrated this database"), None
    return Check("database", "fail", f"{where} is at revision {current}; this nrr needs {head}",
                 "run `nrr db upgrade`"), None


def _missing_sqlite_file(url: URL) -> bool:
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return False
    return not Path(path).exists()


def _known_revision(revision: str) -> bool:
    try:
        return ScriptDirectory(str(MIGRATIONS)).get_revision(revision) is not None
    except CommandError:  # alembic's ResolutionError for an id it has no file for
        return False


# --------------------------------------------------------------------------- schedule


def _local(ts: int, settings: Settings) -> str:
    return datetime.fromtimestamp(ts, settings.tz).strftime("%Y-%m-%d %H:%M %Z")


def _ago(seconds: int) -> str:
    seconds = max(0, seconds)
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


def check_schedule(settings: Settings, last_run_start: int | None, now: int) -> Check:
    """The time zone, the next report's due time and the next sync's."""
    try:
        due, holidays = report_calendar(settings, datetime.fromtimestamp(now, settings.tz).year)
        at = next_due_after(now, due, settings.report_timezone, holidays)
    except OneLineError as exc:  # a holiday country or business day the calendar cannot honour
        return Check("schedule", "fail", str(exc), "fix REPORT_SCHEDULE or REPORT_HOLIDAYS_COUNTRY")
    month = last_complete_month(at, settings.report_timezone)
    interval = settings.sync_interval_minutes * 60
    if last_run_start is None:
        sync = "next sync when `nrr sync` or `nrr run` starts"
    else:
        next_sync = last_run_start + interval
        sync = (f"next sync due {_local(next_sync, settings)} (in {_ago(next_sync - now)})" if next_sync > now
                else f"next sync due now (every {settings.sync_interval_minutes} min)")
    return Check("schedule", "pass",
                 f"REPORT_TIMEZONE {settings.report_timezone}; next report ({month}) "
                 f"{_local(at, settings)} (in {_ago(at - now)}); {sync}")


def check_last_sync(settings: Settings, store: Store, now: int) -> Check:
    limit = STALE_SYNC_INTERVALS * settings.sync_interval_minutes * 60
    fix = "run `nrr sync`, and check the daemon (`nrr run`) is running and its log"
    last = store.last_successful_run()
    recent = store.recent_runs(1)
    failure = ""
    if recent and recent[0]["status"] == "failed" and recent[0].get("errors"):
        failure = f"; the last run failed: {recent[0]['errors'][0]}"
    if last is None:
        return Check("last sync", "fail", "no successful sync yet" + failure, fix)
    finished = int(last["finished_at"] or last["started_at"])
    age = now - finished
    detail = f"last successful sync {datetime.fromtimestamp(finished, UTC):%Y-%m-%dT%H:%M:%SZ} ({_ago(age)} ago)"
    if age > limit:
        return Check("last sync", "fail",
                     f"{detail}, more than {STALE_SYNC_INTERVALS} × SYNC_INTERVAL_MINUTES "
                     f"({settings.sync_interval_minutes}){failure}", fix)
    if failure:
        return Check("last sync", "warn", detail + failure, "see `nrr status`; the next sync may recover")
    return Check("last sync", "pass", detail)


# --------------------------------------------------------------------------- all of it


def run_doctor(
    load: Callable[[], Settings],
    *,
    now: int,
    make_api: Callable[[Settings, str | None], StripeApi] = doctor_api,
    channel_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Check]:
    """Every check in order; a settings failure stops there (the rest need settings).

    ``channel_options``: by channel name, what its check takes (a TLS context, a client).
    """
    first, settings = check_settings(load)
    if settings is None:
        return [first]
    checks = [first, *check_stripe(settings, make_api)]
    db_check, engine = check_database(settings)
    checks.append(db_check)
    store = Store(engine) if engine is not None else None
    try:
        for channel in registry.CHANNELS:
            checks.extend(channel.check(settings, **(channel_options or {}).get(channel.name, {})))
        runs = store.recent_runs(1) if store is not None else []
        checks.append(check_schedule(settings, int(runs[0]["started_at"]) if runs else None, now))
        if store is None:
            checks.append(Check("last sync", "skip", "needs a reachable, current database"))
        else:
            checks.append(check_last_sync(settings, store, now))
    finally:
        if engine is not None:
            engine.dispose()
    return checks
