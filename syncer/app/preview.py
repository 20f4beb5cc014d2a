"""``nrr preview``: every delivery format of a month, written to files (sends nothing)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from reports.metrics import MonthReport
from reports.render import render_csv
from reports.render.chart import render_chart_png
from reports.render.html import render_email_html
from reports.render.slack import render_slack_blocks, render_slack_thread
from syncer.errors import GiveUp

CHART_CID = "nrr-chart"
TREND_MONTHS = 13


def render_slack_json(report: MonthReport, previous: MonthReport | None) -> str:
    """The Slack message and its thread reply, as ``chat.postMessage`` would receive them."""
    payload = {"message": render_slack_blocks(report, previous), "thread": render_slack_thread(report)}
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def prepare_folder(out: Path) -> Path:
    """``out``, made if missing, or a one-line error: checked before any report is computed,
    so a folder that cannot be written costs nothing and leaves nothing half-written."""
    if out.exists() and not out.is_dir():
        raise GiveUp(f"--out {out} is a file, not a folder; give a folder to write the preview into")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GiveUp(f"--out {out}: the folder cannot be made ({exc.strerror}); "
                     "give a folder you can write to") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise GiveUp(f"--out {out}: this folder is not writable by this user; give one that is")
    return out


def write_preview(reports: list[MonthReport], out: Path) -> list[Path]:
    """report.html, chart.png, slack.json and movements.csv for the last of ``reports``
    (the others are its trend), readable by their owner only: they hold revenue data."""
    report = reports[-1]
    previous = reports[-2] if len(reports) > 1 else None
    out.mkdir(parents=True, exist_ok=True)
    files = {
        # Opened from disk, the page shows the chart file beside it (the email uses cid:).
        "report.html": render_email_html(report, previous, None, chart_src="chart.png").encode(),
        "chart.png": render_chart_png(reports, report.month),
        "slack.json": render_slack_json(report, previous).encode(),
        "movements.csv": render_csv(report).encode(),
    }
    written = []
    for name, data in files.items():
        path = out / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(path, 0o600)
        written.append(path)
    return written
