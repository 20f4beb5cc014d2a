"""The ``nrr`` command: wires settings, database, Stripe and the sync together.

Every failure a user can cause ends here as one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from syncer.app.logging import configure_logging, get_logger, redact
from syncer.deliver import registry
from syncer.errors import ConfigError, NrrError

app = typer.Typer(
    name="nrr",
    help="stripe-nrr: sync Stripe and report Net Revenue Retention.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
web_app = typer.Typer(help="The dashboard's password.", no_args_is_help=True)
app.add_typer(web_app, name="web")

err_console = Console(stderr=True)
log = get_logger("nrr")


def fail(exc: NrrError) -> typer.Exit:
    # One line, no traceback, never a secret.
    print(f"nrr: error: {redact(str(exc))}", file=sys.stderr)
    return typer.Exit(exc.exit_code)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except NrrError as exc:
        raise fail(exc) from None


def _settings() -> Any:
    from syncer.app.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    return settings


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT ask the sync to finish its pages and checkpoint, then return."""

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second Ctrl-C: the user really means it
            raise KeyboardInterrupt
        log.warning("sync.stopping", signal=signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@app.command()
def sync(
    full: Annotated[bool, typer.Option("--full", help="Re-list every resource (reconciliation).")] = False,
    resource: Annotated[
        list[str] | None, typer.Option("--resource", help="Only this resource (repeatable).")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="If another sync of the database is running, wait for it, then sync.")
    ] = False,
) -> None:
    """Backfill or incrementally sync Stripe into the database (one sync at a time per database)."""
    from syncer.app.progress import LogProgress, RichProgress
    from syncer.app.usecases import log_sync, normalize_logged, sync_stripe
    from syncer.app.wiring import open_store
    from syncer.stripe.resources import BY_NAME, resolve

    with user_errors():
        settings = _settings()
        try:
            only = list(resolve(resource)) if resource else None
        except KeyError as exc:
            raise ConfigError(
                f"unknown resource {exc.args[0]}; choose from {', '.join(BY_NAME)}"
            ) from None
        settings.require_stripe_key()  # before the database: a missing key creates nothing
        store = open_store(settings)
        stop = threading.Event()
        tty = sys.stderr.isatty() and settings.log_format != "json"
        shown = ExitStack()

        def progress(apis: Any) -> Any:
            return shown.enter_context(RichProgress(err_console, apis) if tty else LogProgress(log))

        with stop_on_signals(stop), shown:
            outcome = sync_stripe(settings, store, full=full, only=only, stop=stop, progress=progress, wait=wait)
        result = outcome.result
        log_sync(log, outcome)
        if result.status == "interrupted":
            print("nrr: sync stopped before the end; run `nrr sync` again to resume", file=sys.stderr)
            return
        if result.errors:
            # One line per distinct problem: a cause shared by every resource is said once.
            distinct = list(dict.fromkeys(str(e) for e in result.errors))
            for extra in distinct[1:]:
                print(f"nrr: error: {redact(extra)}", file=sys.stderr)
            raise result.errors[0]
        # Facts follow every successful sync, so reports never read stale MRR; a full
        # re-list (a reconciliation) rebuilds them all.
        normalize_logged(settings, store, now=int(time.time()), log=log, full=full)


@app.command()
def status(
    format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Last sync runs, the events cursor's age, object counts per resource, and when the facts were last brought up to date."""
    from syncer.app.status import collect_status
    from syncer.app.wiring import open_store

    with user_errors():
        if format not in ("text", "json"):
            raise ConfigError(f"--format {format!r} is not known; use text or json")
        settings = _settings()
        store = open_store(settings)
        data = collect_status(store, int(time.time()))
        if format == "json":
            print(json.dumps(data, indent=2, sort_keys=True))
            return
        _print_status(data)


def _print_status(data: dict[str, Any]) -> None:
    console = Console()
    table = Table(title="Objects", show_edge=False)
    for col in ("resource", "count", "deleted", "listed"):
        table.add_column(col, justify="right" if col in ("count", "deleted") else "left")
    for name, entry in data["resources"].items():
        listed = entry.get("listed_at") or ("in progress" if "listed" in entry else "-")
        table.add_row(name, f"{entry['count']:,}", f"{entry['deleted']:,}", listed)
    console.print(table)
    for c in data["event_cursors"]:
        console.print(f"events cursor {c['account']} ({'live' if c['livemode'] else 'test'}): "
                      f"{c['cursor']} ({c['age_seconds'] // 60} min ago)")
    runs = Table(title="Last runs", show_edge=False)
    for col in ("id", "kind", "status", "started", "finished", "objects", "requests", "retries"):
        runs.add_column(col)
    for r in data["runs"]:
        runs.add_row(str(r["id"]), r["kind"], r["status"], r["started_at"] or "-", r["finished_at"] or "-",
                     str(sum((r["counts"] or {}).values())), str(r["requests"]), str(r["retries"]))
    console.print(runs)
    for r in data["runs"][:1]:
        for e in r["errors"] or []:
            console.print(f"[red]last run error:[/red] {e}")
    for f in data["facts"]:
        console.print(f"facts {f['account']} ({'live' if f['livemode'] else 'test'}): up to date at "
                      f"{f['updated_at']} with data as of {f['data_as_of']}; {f['kind']} run, "
                      f"{f['customers_updated']:,} of {f['customers']:,} customers re-derived "
                      f"(last full rebuild {f['last_full'] or '-'})")


@app.command()
def normalize(
    full: Annotated[bool, typer.Option("--full", help="Rebuild every customer's facts, not only what changed.")] = False,
) -> None:
    """Bring the normalized facts (MRR history, churn, revenue) up to date with the synced rows."""
    from syncer.app.usecases import normalize_logged
    from syncer.app.wiring import open_store

    with user_errors():
        settings = _settings()
        normalize_logged(settings, open_store(settings), now=int(time.time()), log=log, full=full)


@app.command()
def doctor(
    format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Check settings, the Stripe key and permissions, database, delivery channels and schedule; sends nothing."""
    from syncer.app.doctor import failed, render_json, render_text, run_doctor

    with user_errors():
        if format not in ("text", "json"):
            raise ConfigError(f"--format {format!r} is not known; use text or json")
        checks = run_doctor(_settings, now=int(time.time()))
        sys.stdout.write(render_json(checks) if format == "json" else render_text(checks))
        if failed(checks):
            raise typer.Exit(1)


CORE_FORMATS = ("text", "json", "csv")


def report_formats() -> tuple[str, ...]:
    """``--format``'s words: the report's own, then each channel's (``html``, ...)."""
    return (*CORE_FORMATS, *(name for channel in registry.CHANNELS for name in channel.formats))


def _or(words: tuple[str, ...], sep: str = ", ") -> str:
    return f"{sep.join(words[:-1])} or {words[-1]}" if len(words) > 1 else "".join(words)


@app.command()
def report(
    month: Annotated[
        str | None, typer.Option("--month", help="YYYY-MM; default: the last complete month.")
    ] = None,
    format: Annotated[str, typer.Option("--format", help=_or(report_formats()))] = "text",
    send: Annotated[
        str | None, typer.Option(
            "--send", help=f"Deliver through these channels ({','.join(registry.channel_names())}), once each.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="With --send: send again, on purpose.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --send: render, send nothing.")] = False,
    cohorts: Annotated[bool, typer.Option(
        "--cohorts", help="Print the signup cohorts of the year to the month instead (text, json or csv).")] = False,
    quarter: Annotated[str | None, typer.Option(
        "--quarter", help="YYYY-Qn: print that quarter instead of a month (text, json or csv).")] = None,
    segments: Annotated[bool, typer.Option(
        "--segments", help="Print the month's segments (SEGMENT_BY) instead (text, json or csv).")] = False,
    account: Annotated[str | None, typer.Option(
        "--account", help="platform, all (every account consolidated) or an account id of STRIPE_ACCOUNTS; "
                          "default: REPORT_ACCOUNT.")] = None,
) -> None:
    """Compute a month and print it; with --send, deliver it (at most once per target)."""
    from syncer.app.accounts import scope_of
    from syncer.app.reporting import checked_month, report_months
    from syncer.app.wiring import open_store

    with user_errors():
        if quarter is not None:
            _print_quarter(quarter, format, account, others=[flag for flag, given in (
                ("--month", month is not None), ("--send", send is not None), ("--cohorts", cohorts),
                ("--segments", segments)) if given])
            return
        if cohorts and segments:
            raise ConfigError("--cohorts and --segments are two views; give one of them")
        if cohorts:
            _print_cohorts(month, format, account, sending=send is not None)
            return
        if segments:
            _print_segments(month, format, account, sending=send is not None)
            return
        formats = report_formats()
        if format not in formats:
            raise ConfigError(f"--format {format!r} is not known; use {', '.join(formats)}")
        channels = [c.strip() for c in (send or "").split(",") if c.strip()]
        names = registry.channel_names()
        unknown = [c for c in channels if c not in names]
        if unknown:
            raise ConfigError(f"--send {','.join(unknown)} is not known; use {', '.join(names)}")
        if month is not None:
            month = checked_month(month)
        settings = _settings()
        store = open_store(settings)
        now = int(time.time())
        if not channels:
            sys.stdout.write(_render_format(format, report_months(settings, store, month, now=now, count=2,
                                                                  segments=True, account=account)))
            return
        from syncer.app.preview import TREND_MONTHS
        from syncer.deliver.ledger import send_report

        reports = report_months(settings, store, month, now=now, count=TREND_MONTHS, full=True, account=account)
        ledger_account = scope_of(settings, store, account).name
        failed = 0
        for channel in channels:
            # An account with its own recipients (REPORT_EMAIL_TO_BY_ACCOUNT) gets its report there.
            own = registry.channel_named(channel).targets_by_account(settings).get(account or "")
            outcomes = send_report(registry.channel_named(channel), settings, store, ledger_account, reports, now=now,
                                   force=force, dry_run=dry_run, targets=own)
            for outcome in outcomes:
                detail = f" ({outcome.detail})" if outcome.detail else ""
                print(f"{channel} {outcome.target}: {outcome.status}{detail}")
                failed += outcome.status == "failed"
        if failed:
            raise typer.Exit(1)


# The views printed instead of a month (--cohorts, --segments, --quarter): each in these.
VIEW_FORMATS = ("text", "json", "csv")


def _check_view(flag: str, prints: str, format: str, *, sending: bool) -> None:
    """What every view refuses: a --send (a view is printed, never delivered) and a format
    of the month's own (html, slack)."""
    if sending:
        raise ConfigError(f"{flag} prints {prints} and sends nothing; leave out --send")
    if format not in VIEW_FORMATS:
        raise ConfigError(f"{flag} --format {format!r} is not known; use {', '.join(VIEW_FORMATS)}")


def _print_cohorts(month: str | None, format: str, account: str | None, *, sending: bool) -> None:
    from reports.render.cohorts import render_cohorts_csv, render_cohorts_json, render_cohorts_text
    from syncer.app.reporting import checked_month, report_cohorts
    from syncer.app.wiring import open_store

    _check_view("--cohorts", "the signup cohorts", format, sending=sending)
    wanted = checked_month(month) if month is not None else None
    settings = _settings()
    table = report_cohorts(settings, open_store(settings), wanted, now=int(time.time()), account=account)
    render = {"text": render_cohorts_text, "json": render_cohorts_json, "csv": render_cohorts_csv}[format]
    sys.stdout.write(render(table))


def _print_segments(month: str | None, format: str, account: str | None, *, sending: bool) -> None:
    from reports.render.segments import (
        render_segments_csv,
        render_segments_json,
        render_segments_text,
    )
    from syncer.app.reporting import checked_month, report_month
    from syncer.app.wiring import open_store

    _check_view("--segments", "the month's segments", format, sending=sending)
    wanted = checked_month(month) if month is not None else None
    settings = _settings()
    if not settings.segment_by:
        raise ConfigError("SEGMENT_BY is none: set it to the dimensions to segment by, e.g. plan,country")
    report = report_month(settings, open_store(settings), wanted, now=int(time.time()), segments=True,
                          account=account)
    render = {"text": render_segments_text, "json": render_segments_json, "csv": render_segments_csv}[format]
    sys.stdout.write(render(report))


def _print_quarter(quarter: str, format: str, account: str | None, *, others: list[str]) -> None:
    from reports.render.quarter import render_quarter_csv, render_quarter_json, render_quarter_text
    from syncer.app.reporting import report_quarter
    from syncer.app.wiring import open_store

    if others:
        raise ConfigError(f"--quarter prints a quarter and goes with none of {', '.join(others)}; leave them out")
    _check_view("--quarter", "a quarter", format, sending=False)
    settings = _settings()
    report = report_quarter(settings, open_store(settings), quarter, now=int(time.time()), account=account)
    render = {"text": render_quarter_text, "json": render_quarter_json, "csv": render_quarter_csv}[format]
    sys.stdout.write(render(report))


def _render_format(format: str, reports: list[Any]) -> str:
    """The last of ``reports`` in ``format``; the one before it gives the changes in points."""
    from reports.render import render_csv, render_json, render_text

    report, previous = reports[-1], (reports[-2] if len(reports) > 1 else None)
    own = {"text": render_text, "json": render_json, "csv": render_csv}
    if format in own:
        return own[format](report)
    channel = next(c for c in registry.CHANNELS if format in c.formats)
    return channel.formats[format](report, previous)


@app.command()
def preview(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the files into.")],
    month: Annotated[
        str | None, typer.Option("--month", help="YYYY-MM; default: the last complete month.")
    ] = None,
    account: Annotated[str | None, typer.Option(
        "--account", help="platform, all or an account id of STRIPE_ACCOUNTS; default: REPORT_ACCOUNT.")] = None,
) -> None:
    """Write each delivery channel's files and movements.csv for a month; sends nothing."""
    from syncer.app.preview import TREND_MONTHS, prepare_folder, write_preview
    from syncer.app.reporting import checked_month, report_months
    from syncer.app.wiring import open_store

    with user_errors():
        if month is not None:
            month = checked_month(month)
        prepare_folder(out)
        settings = _settings()
        store = open_store(settings)
        reports = report_months(settings, store, month, now=int(time.time()), count=TREND_MONTHS, full=True,
                                account=account)
        for path in write_preview(reports, out):
            print(path)


@app.command()
def run() -> None:
    """The daemon: sync on schedule, deliver each month's report once, until SIGTERM/SIGINT."""
    from syncer.app.wiring import open_store
    from syncer.daemon.run import Daemon

    with user_errors():
        settings = _settings()
        settings.require_stripe_key()
        daemon = Daemon(settings, open_store(settings))

        def handler(signum: int, _frame: Any) -> None:
            log.warning("daemon.stopping", signal=signal.Signals(signum).name)
            daemon.stop()

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            daemon.run()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


@app.command()
def serve(
    port: Annotated[int | None, typer.Option("--port", help="Default: WEB_PORT.")] = None,
) -> None:
    """The read-only dashboard on WEB_HOST:WEB_PORT (127.0.0.1 by default), until SIGINT."""
    from syncer.app.wiring import open_store
    from syncer.web.server import require_login
    from syncer.web.server import serve as serve_dashboard

    with user_errors():
        settings = _settings()
        chosen = port if port is not None else settings.web_port
        if chosen is None:
            raise ConfigError("the dashboard is off: set WEB_PORT (or give --port)")
        require_login(settings)  # before the database: the first thing to fix
        serve_dashboard(settings, open_store(settings), chosen)


@web_app.command("hash-password")
def hash_password() -> None:
    """Ask for a password twice and print its argon2 hash, for WEB_PASSWORD_HASH."""
    from syncer.web.security import hash_password as make_hash

    with user_errors():
        # The prompts go to stderr: `export WEB_PASSWORD_HASH="$(nrr web hash-password)"` keeps the hash alone.
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
        if len(password) < 12:
            raise ConfigError("use a password of at least 12 characters")
        print(make_hash(password))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo database and files.")] = Path(
        "demo-output"
    ),
    customers: Annotated[int, typer.Option("--customers", min=1, max=20000)] = 300,
) -> None:
    """Run the whole pipeline on a synthetic account served by the built-in fake Stripe."""
    from reports.render import render_text
    from syncer.app.demo import run_demo
    from syncer.app.preview import TREND_MONTHS, prepare_folder, write_preview
    from syncer.app.reporting import report_months

    with user_errors():
        configure_logging("console" if sys.stderr.isatty() else "json", "warning")
        prepare_folder(out)
        err_console.print(f"Generating a synthetic Stripe account with {customers} customers…")
        run = run_demo(out, customers=customers)
        result = run.outcome.result
        if result.errors:
            raise result.errors[0]
        err_console.print(
            f"Synced {sum(result.counts.values()):,} objects with {run.outcome.requests:,} requests "
            f"in {run.outcome.seconds:.1f} s into {run.database}; normalized in {run.normalize_seconds:.1f} s."
        )
        reports = report_months(run.settings, run.store, None, now=run.now, count=TREND_MONTHS, full=True)
        sys.stdout.write(render_text(reports[-1]))
        written = write_preview(reports, out)
        err_console.print(f"Preview written: {', '.join(str(p) for p in written)}")
        err_console.print(f"To browse it: export WEB_PASSWORD_HASH=\"$(nrr web hash-password)\", then "
                          f"DATABASE_URL=sqlite:///{run.database.resolve()} nrr serve --port 8000")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (also done automatically by every command)."""
    from syncer.db.engine import check_connection, create_db_engine, describe
    from syncer.db.migrate import head_revision, upgrade_db

    with user_errors():
        settings = _settings()
        engine = create_db_engine(settings.database_url)
        check_connection(engine)
        applied = upgrade_db(engine)
        where = describe(engine.url)
        print(f"{where}: {'upgraded to' if applied else 'already at'} revision {head_revision()}")


@db_app.command("forget-customer")
def db_forget_customer(
    customer: Annotated[str, typer.Argument(help="The Stripe customer id (cus_…, or acct_… for an Accounts v2 customer).")],
) -> None:
    """Delete one customer's rows (objects, events, facts); delete them in Stripe first."""
    from syncer.app.wiring import open_store
    from syncer.db.forget import forget_customer

    with user_errors():
        if not customer.startswith(("cus_", "acct_")):
            raise ConfigError(f"{customer!r} is not a customer id; pass the cus_… (or acct_…) id from Stripe")
        settings = _settings()
        counts = forget_customer(open_store(settings), customer)
        for name, count in counts.items():
            if count:
                print(f"{name}: {count} deleted")
        print(f"{customer}: {sum(counts.values())} rows deleted. Stripe still has the customer: "
              "delete or anonymise them there too, or the next sync brings them back.")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        print("nrr: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
