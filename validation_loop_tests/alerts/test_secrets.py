"""No secret in any artefact (issue 12): a loop with every alert route, real local HTTP and SMTP
servers, a run whose planted gap alerts, a run whose deliveries fail, then a search of every
file the runs left (home and Dagster storage) and of the commands' output for the secrets.

Files are searched as bytes; DuckDB and SQLite databases are also read row by row (DuckDB
compresses strings, and a long SQLite record spans pages). A marker planted in the data shows
the search finds what is there.
"""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
from pathlib import Path
from urllib.parse import quote, quote_plus

import duckdb
import numpy as np
import pandas as pd
import pytest

from validation_loop.alerts.notifiers import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from validation_loop.cli import main
from validation_loop.home import Home
from validation_loop.spec import LoopSpec
from validation_loop_tests.servers import Mailbox, Recorder, free_port, with_alerts

SMTP_USER, SMTP_PASSWORD = "loop", "pw-123"  # what the test SMTP server accepts


def _batch(prefix: str, seed: int, marker: str, age_shift: float = 0.0) -> pd.DataFrame:
    """A `churn` batch; `marker` is one of the region values (the search's positive control)."""
    rng = np.random.default_rng(seed)
    rows = 300
    return pd.DataFrame(
        {
            "customer_id": [f"{prefix}{i}" for i in range(rows)],
            "age": rng.normal(40 + age_shift, 10, rows).round(3),
            "region": rng.choice(["north", "south", marker], rows),
            "active": rng.choice(["yes", "no"], rows),
            "signup": "2024-01-01",
            "churned": np.where(rng.random(rows) < 0.3, "yes", "no"),
        }
    )


def _forms(secret: str) -> set[str]:
    """A secret as it could leak: as is, URL-encoded (path and form style), in a JSON string
    (non-ASCII escaped, as Dagster's event log writes it), base64."""
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        base64.b64encode(secret.encode()).decode(),
    }


def _database_text(path: Path) -> str:
    """Every value of every table of a DuckDB or SQLite file, as text."""
    if path.read_bytes()[:16] == b"SQLite format 3\x00":
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            tables = [
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            return "\n".join(str(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
        return "\n".join(
            str(con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall()) for s, t in tables
        )


def _is_database(path: Path) -> bool:
    """A DuckDB or SQLite database file (not its WAL)."""
    head = path.read_bytes()[:16]
    return head == b"SQLite format 3\x00" or head[8:12] == b"DUCK"


def _hits(roots: list[Path], output: str, needles: set[str]) -> dict[str, list[str]]:
    """Where each needle occurs: file paths (in its bytes, or `(rows)` in a database's
    values), or `<output>`."""
    files = [p for root in roots for p in sorted(root.rglob("*")) if p.is_file()]
    contents = {p: p.read_bytes() for p in files}
    rows = {p: _database_text(p) for p in files if _is_database(p)}
    found: dict[str, list[str]] = {}
    for needle in needles:
        places = [str(p) for p, data in contents.items() if needle.encode() in data]
        places += [f"{p} (rows)" for p, text in rows.items() if needle in text]
        places += ["<output>"] if needle in output else []
        if places:
            found[needle] = places
    return found


def test_no_secret_in_any_file_or_output(
    env: Path,
    home: Home,
    spec: LoopSpec,
    http_server: Recorder,
    smtp_server: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    base = http_server.url.split("/hooks/", 1)[0]
    token = {name: secrets.token_urlsafe(18) for name in ("slack", "teams", "hook", "hmac", "mail")}
    values = {
        "SLACK_URL": f"{base}/services/T0/B0/{token['slack']}",
        "TEAMS_URL": f"{base}/webhookb2/x?sig={token['teams']}",
        "HOOK_URL": f"{base}/hook?token={token['hook']}&v=1",
        "HOOK_SECRET": f"{token['hmac']}/+=",
        "SMTP_USER": SMTP_USER,
        "SMTP_PASSWORD": SMTP_PASSWORD,
        "BAD_SMTP_PASSWORD": f"pässwörd/+={token['mail']}",  # smtplib cannot send it
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    mail = {
        "type": "email",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "starttls": True,
        "ca_file": str(smtp_server.ca_file),
        "username_env": "SMTP_USER",
        "sender": "loop@example.com",
        "recipients": ["ml@example.com"],
    }
    spec.models.enabled = False  # model checks are not the point here
    with_alerts(
        home,
        spec,
        routes=[
            {"name": "slack", "type": "slack", "url_env": "SLACK_URL"},
            {"name": "teams", "type": "teams", "url_env": "TEAMS_URL"},
            {"name": "hook", "type": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
            {"name": "mail", **mail, "password_env": "SMTP_PASSWORD"},
            {"name": "bad-mail", **mail, "password_env": "BAD_SMTP_PASSWORD"},
        ],
        attempts=2,
        backoff_seconds=0.01,
        timeout_seconds=5,
    )
    marker = f"marker-{secrets.token_hex(8)}"
    layout = home.loop(spec.name)
    _batch("h", 1, marker).to_csv(layout.landing("human") / "human.csv", index=False)
    _batch("s", 2, marker, age_shift=30).to_csv(layout.landing("synthetic") / "s.csv", index=False)

    assert main(["run", spec.name]) == 0  # a planted gap: every route gets an alert
    assert len(smtp_server.messages) == 1  # `mail` delivered, `bad-mail` could not log in
    paths = sorted(r["path"] for r in http_server.requests)
    assert paths == sorted(v.removeprefix(base) for k, v in values.items() if k.endswith("_URL"))
    (hook,) = [r for r in http_server.requests if r["path"].startswith("/hook?")]
    headers = hook["headers"]
    assert verify(
        values["HOOK_SECRET"], headers[TIMESTAMP_HEADER], hook["body"], headers[SIGNATURE_HEADER]
    )

    assert main(["generate", spec.name, "--rows", "300"]) == 0  # a generator config, a batch

    # a run whose deliveries fail: the HTTP routes answer 503, Teams' endpoint is gone, and a
    # rejected file makes the ingest run fail, which alerts every route
    http_server.answers = [503] * 20
    monkeypatch.setenv("TEAMS_URL", f"http://127.0.0.1:{free_port()}/webhookb2/{token['teams']}")
    (layout.landing("human") / "broken.csv").write_text("customer_id,age\nc1,forty\n")
    _batch("t", 3, marker, age_shift=-30).to_csv(layout.landing("synthetic") / "t.csv", index=False)
    assert main(["run", spec.name]) == 2
    assert main(["alerts", spec.name]) == 0
    assert main(["alerts", spec.name, "--test"]) == 1
    output = "".join(capfd.readouterr())
    assert "pending after" in output and "route bad-mail: UnicodeEncodeError" in output

    assert list(layout.generator.glob("v0001.yaml"))  # among the files searched
    roots = [home.root, env]
    found = _hits(roots, output, {marker})[marker]  # the search finds what is there
    assert f"{home.warehouse_path} (rows)" in found
    needles = {form for value in values.values() if value != SMTP_USER for form in _forms(value)}
    needles |= _forms(f"\0{SMTP_USER}\0{SMTP_PASSWORD}")  # SMTP AUTH PLAIN's payload
    needles |= {form for t in token.values() for form in _forms(t)}
    assert _hits(roots, output, needles) == {}
