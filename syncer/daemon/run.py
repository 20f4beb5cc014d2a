"""``nrr run``: the daemon. Syncs on a schedule, sends each month's report once, and
keeps doing so across restarts, crashes and several replicas.

Shape of it:

- One process of a deployment is the *leader* (``syncer.daemon.leader``: a PostgreSQL
  advisory lock, or a file lock beside the SQLite file); only the leader runs the
  scheduler. The others wait and take over when the leader's lock goes away.
- Every sync also takes the database's sync lock (``syncer.db.locks``), whoever runs
  it: a tick that finds a manual ``nrr sync`` holding it skips, and is not a failure.
- The leader runs an APScheduler 3 ``BlockingScheduler`` whose jobs are persisted in the
  same database (``SQLAlchemyJobStore``): the sync every ``SYNC_INTERVAL_MINUTES`` (with
  jitter; coalesced after downtime), the reconciliation (a full re-list) every
  ``RECONCILE_INTERVAL_DAYS``, and the report at its due time. All jobs share one worker
  thread, so two units of work never overlap.
- Every job is a *tick*: a sync (normalization after a successful one), then "is a report
  due and not yet delivered?". What has been sent is decided by the deliveries ledger,
  never by the scheduler: a restart, a takeover or a late tick can only send what the
  ledger says is unsent, and only for the last complete month (older months are
  ``nrr report --send``'s job). A final report waits for a successful sync that ended
  after its due time, so it is computed from settled data.
- Times that matter to users (which month is due, when) come from ``clock`` and the pure
  ``reports.schedule``; APScheduler only decides when to wake up.
- After a tick whose sync and normalization succeeded, the movement alerts (ALERTS=on)
  go out, and the weekly digest (DIGEST_WEEKLY) when it is due, with a job of its own
  to wake up for it: ``syncer.app.alerting``, through the same ledger.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from reports.alerts import next_digest_after
from reports.schedule import FINAL, PRELIMINARY, Due, month_due, next_due_after
from syncer.app.logging import get_logger, redact
from syncer.app.settings import Settings
from syncer.daemon.health import HealthServer, health_status, send_healthcheck_ping, serve_health
from syncer.daemon.leader import LeaderLock, leader_lock_for
from syncer.db.store import Store
from syncer.deliver import registry
from syncer.deliver.channel import Channel, Outcome
from syncer.deliver.ledger import delivery_key, send_report, unsent_targets
from syncer.errors import AnotherSyncRunning, NrrError

if TYPE_CHECKING:
    from syncer.app.alerting import Sent
    from syncer.web.server import DashboardThread

log = get_logger("nrr.daemon")

JOB_TABLE = "nrr_scheduler_jobs"
JOB_FUNC = "syncer.daemon.run:run_job"
LEADER_POLL_SECONDS = 5.0
LEADER_CHECK_SECONDS = 10.0
REPORT_TREND_MONTHS = 13

# The daemons leading in this process, by database: persisted jobs name their database,
# not an object (APScheduler stores a textual reference to the job function).
_LEADING: dict[str, Daemon] = {}


def run_job(db: str, kind: str) -> None:
    """The persisted jobs' entry point."""
    daemon = _LEADING.get(db)
    if daemon is None:  # a job of a leadership that just ended
        log.warning("daemon.job_without_leader", job=kind)
        return
    daemon.tick(kind)


@dataclass(frozen=True)
class Route:
    """A channel of the registry that is set up, and where it sends."""

    channel: Channel
    targets: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.channel.name


class Daemon:
    """The scheduler, the leader lock and the health endpoint around ``tick``."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        interval_seconds: float | None = None,
        leader_poll_seconds: float = LEADER_POLL_SECONDS,
        lock: LeaderLock | None = None,
        deliver_options: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.interval = interval_seconds or settings.sync_interval_minutes * 60
        self.leader_poll = leader_poll_seconds
        self.lock = lock or leader_lock_for(store.engine)
        self.deliver_options = deliver_options or {}
        self.db_key = store.engine.url.render_as_string(hide_password=True)
        self.started_at = int(clock())
        self._stop = threading.Event()  # the whole daemon: SIGTERM/SIGINT
        self._lead_stop = threading.Event()  # this leadership: stop, or the lock was lost
        self._scheduler: BlockingScheduler | None = None
        self._syncing = threading.Event()
        self._health: HealthServer | None = None
        self._web: DashboardThread | None = None
        self.ticks = 0

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> None:
        """Lead or wait to lead until ``stop()``; returns once the current unit of work
        has checkpointed."""
        self._serve_http()
        log.info("daemon.started", interval_seconds=self.interval, lock=self.lock.description)
        try:
            while not self._stop.is_set():
                if self._try_lead():
                    try:
                        self._lead()
                    finally:
                        self.lock.release()
                else:
                    self._stop.wait(self.leader_poll)
        finally:
            self._close_http()
            log.info("daemon.stopped")

    def _serve_http(self) -> None:
        """The dashboard (WEB_PORT, with /healthz) and the health endpoint (HEALTH_PORT),
        whether or not this process leads: both read the same database. One port for
        both is the dashboard's, which answers /healthz without a login."""
        web_port, health_port = self.settings.web_port, self.settings.health_port
        try:
            if web_port is not None:
                from syncer.web.server import DashboardThread  # the web stack only when asked for

                self._web = DashboardThread(self.settings, self.store, web_port, health=self.health)
                log.info("daemon.web", host=self.settings.web_host, port=self._web.port,
                         tls=self.settings.web_tls_cert_file is not None)
            if health_port is not None and health_port != web_port:
                self._health = serve_health(health_port, self.health)
                log.info("daemon.health", port=self._health.port)
        except BaseException:
            self._close_http()  # a busy HEALTH_PORT must not leave the dashboard running
            raise

    def _close_http(self) -> None:
        if self._web is not None:
            self._web.close()
            self._web = None
        if self._health is not None:
            self._health.close()
            self._health = None

    def _try_lead(self) -> bool:
        try:
            return self.lock.try_acquire()
        except NrrError as exc:  # the database is down: not leading, ask again later
            log.warning("leader.acquire_failed", lock=self.lock.description, error=redact(str(exc)))
            return False

    def stop(self) -> None:
        """Ask the daemon to stop: the running sync finishes its page and checkpoints."""
        self._stop.set()
        self._end_leadership()

    @property
    def health_port(self) -> int | None:
        """Where /healthz answers: the health server's port, or the dashboard's when they share one."""
        if self._health is not None:
            return self._health.port
        shared = self._web is not None and self.settings.health_port == self.settings.web_port
        return self.web_port if shared else None

    @property
    def web_port(self) -> int | None:
        return self._web.port if self._web else None

    def _end_leadership(self) -> None:
        self._lead_stop.set()
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            # Never wait here: this may run in a signal handler or in a job's thread.
            scheduler.shutdown(wait=False)

    def _lead(self) -> None:
        log.info("daemon.leading", lock=self.lock.description)
        self._lead_stop.clear()
        scheduler = BlockingScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.store.engine, tablename=JOB_TABLE)},
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._scheduler = scheduler
        _LEADING[self.db_key] = self
        try:
            self._add_jobs(scheduler)
            if self._stop.is_set():
                return
            scheduler.start()  # blocks until _end_leadership()
        finally:
            _LEADING.pop(self.db_key, None)
            self._scheduler = None
            # The job thread may still be finishing a page: wait for its checkpoint.
            self._wait_idle()
        log.info("daemon.leadership_ended", stopping=self._stop.is_set())

    def _wait_idle(self) -> None:
        while self._syncing.is_set():
            time.sleep(0.05)

    def _add_jobs(self, scheduler: BlockingScheduler) -> None:
        now = datetime.now(UTC)
        jitter = max(1, min(60, int(self.interval * 0.1)))
        kwargs = {"db": self.db_key}
        # The first tick right away: catch up on whatever happened while no one led.
        scheduler.add_job(JOB_FUNC, IntervalTrigger(seconds=self.interval, jitter=jitter), id="sync",
                          name="sync", kwargs={**kwargs, "kind": "sync"}, replace_existing=True, next_run_time=now)
        scheduler.add_job(JOB_FUNC, IntervalTrigger(days=self.settings.reconcile_interval_days), id="reconcile",
                          name="reconcile", kwargs={**kwargs, "kind": "reconcile"}, replace_existing=True,
                          next_run_time=self._next_reconcile(now))
        self._schedule_report(scheduler)
        self._schedule_digest(scheduler)
        # The leadership check is this process's own business, not a persisted job, and
        # must run even while a long sync holds the job thread.
        threading.Thread(target=self._watch_leadership, name="nrr-leader-watch", daemon=True).start()

    def _next_reconcile(self, now: datetime) -> datetime:
        """From the database, not the job store: a daemon restarted more often than the
        interval must still reconcile (the oldest complete listing says when it last did)."""
        listed = self.store.oldest_listing()
        if listed is None:
            return now + timedelta(days=self.settings.reconcile_interval_days)  # the backfill is the listing
        return max(now, datetime.fromtimestamp(listed, UTC) + timedelta(days=self.settings.reconcile_interval_days))

    def _schedule_report(self, scheduler: BlockingScheduler) -> None:
        at = self._next_report_time()
        scheduler.add_job(JOB_FUNC, DateTrigger(run_date=datetime.fromtimestamp(at, UTC)), id="report",
                          name="report", kwargs={"db": self.db_key, "kind": "report"}, replace_existing=True)

    def _schedule_digest(self, scheduler: BlockingScheduler) -> None:
        at = self._next_digest_time()
        if at is None:  # DIGEST_WEEKLY is off: a job persisted when it was on goes
            if scheduler.get_job("digest") is not None:
                scheduler.remove_job("digest")
            return
        scheduler.add_job(JOB_FUNC, DateTrigger(run_date=datetime.fromtimestamp(at, UTC)), id="digest",
                          name="digest", kwargs={"db": self.db_key, "kind": "digest"}, replace_existing=True)

    def _next_digest_time(self) -> int | None:
        due = self.settings.digest_weekly
        return None if due is None else next_digest_after(int(self.clock()), due, self.settings.report_timezone)

    def _next_report_time(self) -> int:
        now = int(self.clock())
        due, holidays = self._calendar(now)
        times = [next_due_after(now, due, self.settings.report_timezone, holidays)]
        if self.settings.report_preliminary:
            times.append(next_due_after(now, Due(1, due.at), self.settings.report_timezone, holidays))
        return min(times)

    def _watch_leadership(self) -> None:
        while not self._lead_stop.wait(LEADER_CHECK_SECONDS):
            if not self.lock.still_held():
                log.error("daemon.leadership_lost", lock=self.lock.description)
                self._end_leadership()
                return

    # ------------------------------------------------------------------ health

    def health(self) -> tuple[int, dict[str, Any]]:
        scheduler = self._scheduler
        next_runs: dict[str, int | None] = {}
        if scheduler is not None and scheduler.running:
            for job in scheduler.get_jobs():
                nrt = getattr(job, "next_run_time", None)
                next_runs[job.id] = int(nrt.timestamp()) if nrt else None
        return health_status(
            self.store, now=int(self.clock()), interval_seconds=int(self.interval), started_at=self.started_at,
            sync_running=self._syncing.is_set(), leader=scheduler is not None, next_runs=next_runs,
        )

    # ------------------------------------------------------------------ work

    def tick(self, kind: str) -> None:
        """One unit of work: sync (full for ``reconcile``), normalize, deliver what is due."""
        if self._lead_stop.is_set():
            return
        self.ticks += 1
        self._syncing.set()
        try:
            synced = self._sync(full=kind == "reconcile")
        finally:
            self._syncing.clear()
        if self._lead_stop.is_set():
            return
        self._guarded("report", self.deliver_due)
        if synced:  # alerts read facts just brought up to date
            self._guarded("alerts", self.deliver_alerts)
        self._guarded("digest", self.deliver_digest)
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            if kind == "report" or synced:
                self._schedule_report(scheduler)
            if kind == "digest" or synced:
                self._schedule_digest(scheduler)

    def _guarded(self, what: str, deliver: Callable[[], object]) -> None:
        """One delivery step; its failure is logged and leaves the others to run."""
        try:
            deliver()
        except NrrError as exc:  # data or settings: say what to fix; the next tick retries
            log.error(f"{what}.failed", error=redact(str(exc)))
        except Exception:
            log.exception(f"{what}.crashed")

    def _sync(self, *, full: bool) -> bool:
        from syncer.app.usecases import log_sync, normalize_logged, sync_stripe

        started = time.monotonic()
        try:
            outcome = sync_stripe(self.settings, self.store, full=full, stop=self._lead_stop, clock=self.clock)
        except AnotherSyncRunning as exc:
            # A manual or cron `nrr sync` has the database: it keeps the data fresh, and
            # this tick is not a failure to alert on (no ping either way).
            log.info("sync.skipped", reason="another sync is running", holder=exc.holder)
            return False
        except NrrError as exc:  # cannot even start: key, database; retried next tick
            log.error("sync.failed", error=redact(str(exc)), seconds=round(time.monotonic() - started, 1))
            self._ping(ok=False)
            return False
        result = outcome.result
        log_sync(log, outcome, full=full, errors=[redact(str(e)) for e in result.errors][:5])
        if result.status != "success":
            self._ping(ok=False)
            return False
        try:
            # The reconciliation rebuilds every fact; other ticks re-derive what changed.
            normalize_logged(self.settings, self.store, now=int(self.clock()), log=log, full=full)
        except NrrError as exc:
            log.error("normalize.failed", error=redact(str(exc)))
            self._ping(ok=False)
            return False
        self._ping(ok=True)
        return True

    def _ping(self, *, ok: bool) -> None:
        if self.settings.healthcheck_url:
            send_healthcheck_ping(self.settings.healthcheck_url, fail=not ok)

    def _calendar(self, now: int) -> tuple[Due, frozenset[Any]]:
        from syncer.app.reporting import report_calendar

        return report_calendar(self.settings, datetime.fromtimestamp(now, UTC).year)

    def due_edition(self, now: int) -> tuple[str, str] | None:
        """(month, final|preliminary) whose report is due at ``now``, if any."""
        due, holidays = self._calendar(now)
        tz = self.settings.report_timezone
        month = month_due(now, due, tz, holidays)
        if month is not None:
            return month, FINAL
        if self.settings.report_preliminary:
            early = month_due(now, Due(1, due.at), tz, holidays)
            if early is not None:
                return early, PRELIMINARY
        return None

    def channels(self) -> list[Route]:
        """Every channel of the registry that is set up, with its targets."""
        routes = (Route(channel, channel.targets(self.settings)) for channel in registry.CHANNELS)
        return [route for route in routes if route.targets]

    def routes_by_account(self) -> dict[str | None, list[Route]]:
        """Where each account's report goes: REPORT_ACCOUNT's (key None) to every channel's
        targets, another account's to the targets set for it (REPORT_EMAIL_TO_BY_ACCOUNT)."""
        default = self.channels()
        plan: dict[str | None, list[Route]] = {None: default} if default else {}
        for channel in registry.CHANNELS:
            for account, targets in channel.targets_by_account(self.settings).items():
                plan.setdefault(account, []).append(Route(channel, targets))
        return plan

    def deliver_due(self) -> list[tuple[str, Outcome]]:
        """Deliver the due report of each account to every target the ledger says is unsent."""
        from syncer.app.accounts import NoData, scope_of

        now = int(self.clock())
        due = self.due_edition(now)
        if due is None:
            return []
        month, edition = due
        plan = self.routes_by_account()
        if not plan:
            log.warning("report.no_channel", month=month,
                        fix="set " + ", or ".join(channel.needs for channel in registry.CHANNELS))
            return []
        sent: list[tuple[str, Outcome]] = []
        for account, routes in plan.items():
            try:
                scope = scope_of(self.settings, self.store, account)
                sent += self._deliver_account(scope.name, account, routes, month, edition, now)
            except NoData:
                return sent
            except NrrError as exc:  # an account not synced, or whose report fails: the others still go
                log.error("report.failed", account=account, month=month, error=redact(str(exc)))
        return sent

    def _deliver_account(self, ledger_account: str, account: str | None, routes: Sequence[Route], month: str,
                         edition: str, now: int) -> list[tuple[str, Outcome]]:
        from syncer.app.reporting import report_months

        key = delivery_key(month, edition)
        pending = [r for r in routes if unsent_targets(self.store, account=ledger_account, month=key,
                                                       channel=r.channel.name, targets=r.targets)]
        if not pending:
            return []
        reports = report_months(self.settings, self.store, month, now=now, count=REPORT_TREND_MONTHS, full=True,
                                account=account)
        if edition == FINAL and reports[-1].status != FINAL:
            # The data predates the due time: wait for a sync that ends after it.
            log.info("report.waiting", month=month, reason="no successful sync since the report was due")
            return []
        return self._send(pending, ledger_account, reports, edition, now)

    def _send(self, channels: Sequence[Route], account: str, reports: Sequence[Any], edition: str,
              now: int) -> list[tuple[str, Outcome]]:
        sent: list[tuple[str, Outcome]] = []
        for channel in channels:
            started = time.monotonic()
            try:
                # A target that failed since this daemon started waits its backoff
                # (syncer.deliver.ledger.retry_wait); one from before is retried now.
                outcomes = send_report(channel.channel, self.settings, self.store, account, reports, now=now,
                                       edition=edition, backoff_since=self.started_at, targets=channel.targets,
                                       **self.deliver_options.get(channel.name, {}))
            except NrrError as exc:  # a setting, or a send of unknown outcome: a person decides
                log.error("report.failed", channel=channel.name, account=account, month=reports[-1].month,
                          edition=edition, error=redact(str(exc)))
                continue
            for o in outcomes:
                log.info("report.delivery", channel=channel.name, account=account, target=o.target,
                         month=reports[-1].month,
                         edition=edition, status=o.status, detail=redact(o.detail),
                         seconds=round(time.monotonic() - started, 2))
                sent.append((channel.name, o))
        return sent

    # ------------------------------------------------------------------ alerts and digest

    def deliver_alerts(self) -> list[Sent]:
        """Post the movement alerts the ledger says are unsent, in order (ALERTS=on)."""
        from syncer.app.alerting import send_alerts

        sent = send_alerts(self.settings, self.store, now=int(self.clock()), backoff_since=self.started_at,
                           options=self.deliver_options)
        self._log_sent("alert", sent)
        return sent

    def deliver_digest(self) -> list[Sent]:
        """Post the weekly digest when it is due and the ledger says it is unsent."""
        from syncer.app.alerting import send_digest

        sent = send_digest(self.settings, self.store, now=int(self.clock()), backoff_since=self.started_at,
                           options=self.deliver_options)
        self._log_sent("digest", sent)
        return sent

    def _log_sent(self, what: str, sent: Sequence[Sent]) -> None:
        for s in sent:
            level = log.warning if s.outcome.status == "failed" else log.info
            level(f"{what}.delivery", key=s.key, target=s.outcome.target, status=s.outcome.status,
                  detail=redact(s.outcome.detail))
