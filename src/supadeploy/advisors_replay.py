"""Supabase's advisors run once by the CLI, and their own queries replayed on a second database.

`supabase db advisors` spends most of its second or two starting up; its queries take a fraction of that.
db.plan needs the advisors twice, before and after the pending files. So the first run goes through a
loopback relay (`Recorder`) that forwards every byte and notes the statements the CLI sends (the SQL of
Supabase's splinter lints, as the pinned CLI ships it, with the session settings it makes first); the
second run replays that session on the other database with psycopg and reads the same rows the CLI would
turn into findings. The session is kept in .supadeploy/cache/ under a key naming what it depends on (the
CLI's version, the server's, the role, the exposed schemas), so that a later plan replays both runs and
starts no advisors CLI at all; a kept session that fails to replay is dropped and recorded again.

The relay speaks plain TCP to the rehearsal database on this machine: it answers the CLI's SSLRequest
with "no". A session it cannot read (binary parameters, an unknown message) is simply not replayable,
and the caller runs the CLI again.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from supadeploy import advisors
from supadeploy.database import connect
from supadeploy.dburl import DbUrl
from supadeploy.errors import DatabaseError

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_RESULT_COLUMN = "cache_key"  # the column every lint's row carries, and no setup statement does
GATE_SECONDS = 600.0  # a held client is let through after this even if nobody opened the gate


@dataclass(frozen=True)
class SentStatement:
    """One statement the CLI ran: its text and its parameters (text format), None for a simple query."""

    text: str
    params: tuple[str | None, ...] | None = None


@dataclass
class Session:
    """What the CLI sent on its connection, in order; `readable` is False when something could not be followed."""

    statements: list[SentStatement] = field(default_factory=list)
    readable: bool = True

    @property
    def replayable(self) -> bool:
        """Whether replaying it can give the advisors' rows: fully read, with the lints' query in it."""
        return self.readable and any(_RESULT_COLUMN in s.text for s in self.statements)


class _ClientStream:
    """Reads the frontend's messages off a socket, forwarding each one upstream as it was."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server

    def exactly(self, size: int) -> bytes | None:
        """The next `size` bytes, or None once the client has closed its connection."""
        data = bytearray()
        while len(data) < size:
            chunk = self.client.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return bytes(data)


def _cstring(body: bytes, at: int) -> tuple[str, int]:
    end = body.index(b"\0", at)
    return body[at:end].decode(), end + 1


def _bind(body: bytes) -> tuple[str, str, tuple[str | None, ...] | None]:
    """(portal, prepared statement, parameters as text) of a Bind message; parameters None when binary."""
    portal, at = _cstring(body, 0)
    statement, at = _cstring(body, at)
    (formats,) = struct.unpack_from("!h", body, at)
    codes = struct.unpack_from(f"!{formats}h", body, at + 2)
    at += 2 + 2 * formats
    (count,) = struct.unpack_from("!h", body, at)
    at += 2
    values: list[str | None] = []
    for index in range(count):
        (size,) = struct.unpack_from("!i", body, at)
        at += 4
        code = codes[0] if len(codes) == 1 else (codes[index] if codes else 0)
        if code != 0:
            return portal, statement, None
        values.append(None if size < 0 else body[at : at + size].decode())
        at += max(size, 0)
    return portal, statement, tuple(values)


class Relay:
    """A loopback relay to one database: it notes what its clients send (record), or holds them until a gate opens.

    Recording, it answers SSL requests itself (with "no") so that it can read the protocol; held, it passes
    every byte through once the gate opens, so a client can start up while another finishes on the database.
    """

    def __init__(
        self,
        upstream: DbUrl,
        *,
        record: bool = True,
        gate: threading.Event | None = None,
        finished: threading.Event | None = None,
    ) -> None:
        """Listen on 127.0.0.1, a free port; connections go on to upstream's host and port.

        `finished` is set when a relayed connection ends (recording: one that ran the lints' query), so that
        whoever waits for the client to be done with the database need not wait for it to exit.
        """
        self.record = record
        self.gate = gate
        self.finished = finished
        self.upstream = (upstream.host or "127.0.0.1", upstream.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = upstream.with_address("127.0.0.1", self.listener.getsockname()[1])
        self.session = Session()
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._accepting = threading.Thread(target=self._accept, name="advisors-relay", daemon=True)
        self._accepting.start()

    def close(self) -> None:
        """Stop listening and wait for the relayed connections to end."""
        self._closed.set()
        with suppress(OSError):
            self.listener.close()
        for thread in self._threads:
            thread.join(timeout=10)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._relay, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _relay(self, client: socket.socket) -> None:
        if self.gate is not None:
            self.gate.wait(timeout=GATE_SECONDS)
        try:
            server = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            client.close()
            self.session.readable = False
            return
        server.settimeout(None)
        back = threading.Thread(target=_pump, args=(server, client), daemon=True)
        try:
            if not self.record:
                back.start()
                _pump(client, server)
                return
            stream = _ClientStream(client, server)
            self._startup(stream)
            back.start()
            self._messages(stream)
        except (OSError, ValueError, struct.error):
            self.session.readable = False
        finally:
            for end in (client, server):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
            if back.is_alive():
                back.join(timeout=10)
            if self.finished is not None and (not self.record or self.session.replayable):
                self.finished.set()  # a connection that ran the lints' query, when recording

    def _startup(self, stream: _ClientStream) -> None:
        """Answer SSL and GSS encryption requests with "no", then forward the startup message."""
        while True:
            head = stream.exactly(4)
            body = stream.exactly(struct.unpack("!i", head)[0] - 4) if head is not None else None
            if head is None or body is None:
                return
            code = struct.unpack_from("!i", body)[0] if len(body) >= 4 else 0
            if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                stream.client.sendall(b"N")
                continue
            stream.server.sendall(head + body)
            return

    def _messages(self, stream: _ClientStream) -> None:
        prepared: dict[str, str] = {}
        portals: dict[str, SentStatement] = {}
        while True:
            head = stream.exactly(5)
            body = stream.exactly(struct.unpack("!i", head[1:])[0] - 4) if head is not None else None
            if head is None or body is None:
                return
            kind = head[:1]
            stream.server.sendall(head + body)
            if kind == b"Q":
                self.session.statements.append(SentStatement(_cstring(body, 0)[0]))
            elif kind == b"P":
                name, at = _cstring(body, 0)
                prepared[name] = _cstring(body, at)[0]
            elif kind == b"B":
                portal, statement, params = _bind(body)
                if params is None or statement not in prepared:
                    self.session.readable = False
                else:
                    portals[portal] = SentStatement(prepared[statement], params)
            elif kind == b"E":
                portal = _cstring(body, 0)[0]
                if portal in portals:
                    self.session.statements.append(portals[portal])
            elif kind == b"X":
                return
            elif kind == b"F":  # a function call: nothing the advisors do, and nothing to replay
                self.session.readable = False


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextmanager
def relay(
    upstream: DbUrl,
    *,
    record: bool = True,
    gate: threading.Event | None = None,
    finished: threading.Event | None = None,
) -> Iterator[Relay]:
    """A Relay to upstream, closed afterwards."""
    opened = Relay(upstream, record=record, gate=gate, finished=finished)
    try:
        yield opened
    finally:
        opened.close()


def cache_key(*, cli_version: str, server_version: str, user: str, schemas: Sequence[str]) -> str:
    """What a recorded session depends on: the CLI that sent it, the server, the role, the exposed schemas."""
    identity = json.dumps([cli_version, server_version, user, sorted(schemas)])
    return hashlib.sha256(identity.encode()).hexdigest()[:20]


def cached(folder: Path, key: str) -> Session | None:
    """The session recorded earlier under key, if any (a damaged file counts as none)."""
    try:
        data = json.loads((folder / f"advisors-{key}.json").read_text())
        statements = [SentStatement(str(s["text"]), None if s["params"] is None else tuple(s["params"])) for s in data]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    session = Session(statements)
    return session if session.replayable else None


def keep(folder: Path, key: str, session: Session) -> None:
    """Store a replayable session under key (written whole, then renamed), so the next plan needs no CLI run."""
    if not session.replayable:
        return
    with suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        payload = [{"text": s.text, "params": None if s.params is None else list(s.params)} for s in session.statements]
        partial = folder / f".advisors-{key}.{os.getpid()}.json"
        partial.write_text(json.dumps(payload))
        partial.replace(folder / f"advisors-{key}.json")


def forget(folder: Path, key: str) -> None:
    """Drop a stored session that no longer replays."""
    with suppress(OSError):
        (folder / f"advisors-{key}.json").unlink()


def replay(session: Session, url: DbUrl) -> list[advisors.Finding]:
    """Run the recorded statements, in order, on url; the lints' rows as findings (sorted as advisors() sorts)."""
    rows: list[dict[str, Any]] = []
    with connect(url) as conn:
        for statement in session.statements:
            rows = _run(conn, statement) or rows
    findings = [
        advisors.Finding(
            level=str(r.get("level", "info")).lower(),
            name=str(r.get("name", "")),
            detail=str(r.get("detail", "")),
            categories=tuple(r.get("categories") or ()),
            remediation=str(r.get("remediation", "")),
        )
        for r in rows
    ]
    return advisors.ordered(findings)


def _run(conn: psycopg.Connection, statement: SentStatement) -> list[dict[str, Any]]:
    """One recorded statement; its rows when it is the lints' query, else []."""
    if statement.params is not None:
        # The CLI's own $n placeholders: through libpq as they were sent, values in text format.
        result = conn.pgconn.exec_params(
            statement.text.encode(), [p.encode() if p is not None else None for p in statement.params]
        )
        if result.status not in (psycopg.pq.ExecStatus.COMMAND_OK, psycopg.pq.ExecStatus.TUPLES_OK):
            message = (result.error_message or b"").decode().strip()
            sqlstate = result.error_field(psycopg.pq.DiagnosticField.SQLSTATE)
            raise DatabaseError(
                f"replaying the advisors' statements: {message}", sqlstate.decode() if sqlstate else None
            )
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(statement.text.encode())
        if cur.description and any(column.name == _RESULT_COLUMN for column in cur.description):
            return cur.fetchall()
    return []
