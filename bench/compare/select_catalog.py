"""Turn a discovered catalog into one that selects the benchmark's streams.

    python select_catalog.py singer  discovered.json STREAMS > catalog.json
    python select_catalog.py airbyte discovered.json STREAMS > configured.json

STREAMS is comma-separated. Singer: marks the stream's top-level metadata selected.
Airbyte: builds a ConfiguredAirbyteCatalog, incremental (a first sync, no state) where
the stream supports it, else full refresh. Stdlib only: runs in either tool's venv.
"""

import json
import sys


def select_singer(catalog: dict, wanted: list[str]) -> dict:
    streams = []
    for s in catalog["streams"]:
        if s["tap_stream_id"] not in wanted:
            continue
        for m in s["metadata"]:
            if m["breadcrumb"] == []:
                m["metadata"]["selected"] = True
        streams.append(s)
    return {"streams": streams}


def select_airbyte(messages: list[dict], wanted: list[str]) -> dict:
    catalog = next(m["catalog"] for m in messages if m.get("type") == "CATALOG")
    out = []
    for s in catalog["streams"]:
        if s["name"] not in wanted:
            continue
        incremental = "incremental" in s.get("supported_sync_modes", [])
        entry = {
            "stream": s,
            "sync_mode": "incremental" if incremental else "full_refresh",
            "destination_sync_mode": "append",
        }
        if incremental and s.get("default_cursor_field"):
            entry["cursor_field"] = s["default_cursor_field"]
        out.append(entry)
    return {"streams": out}


def main() -> None:
    kind, path, names = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    with open(path) as f:
        text = f.read()
    if kind == "singer":
        result = select_singer(json.loads(text), names)
        found = [s["tap_stream_id"] for s in result["streams"]]
    else:
        msgs = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        result = select_airbyte(msgs, names)
        found = [s["stream"]["name"] for s in result["streams"]]
    missing = sorted(set(names) - set(found))
    if missing:
        sys.exit(f"streams not in the discovered catalog: {', '.join(missing)}")
    json.dump(result, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
