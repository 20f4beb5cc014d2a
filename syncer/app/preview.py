"""``nrr preview``: every delivery format of a month, written to files (sends nothing)."""

from __future__ import annotations

import os
from pathlib import Path

from reports.metrics import MonthReport
from reports.render import render_csv
from reports.render.cohorts import render_cohorts_csv
from reports.render.segments import render_segments_csv
from syncer.deliver import registry
from syncer.errors import GiveUp

TREND_MONTHS = 13


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
    """Each channel's files for the last of ``reports`` (the others are its trend), then
    movements.csv (cohorts.csv and segments.csv when it holds them), readable by their
    owner only: they hold revenue data."""
    report = reports[-1]
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    for channel in registry.CHANNELS:
        files.update(channel.preview(reports))
    files["movements.csv"] = render_csv(report).encode()
    if report.cohorts is not None:
        files["cohorts.csv"] = render_cohorts_csv(report.cohorts).encode()
    if report.segments:
        files["segments.csv"] = render_segments_csv(report).encode()
    written = []
    for name, data in files.items():
        path = out / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(path, 0o600)
        written.append(path)
    return written
