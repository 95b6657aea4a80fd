"""A database connection string that never shows its password: parsed by libpq (psycopg.conninfo).

Both forms libpq reads are accepted, `postgresql://user:pw@host:port/db?opts` and `host=... password=...`,
with several hosts (`h1:5432,h2:5433`) as libpq allows. `raw` is for the driver only; people see
`masked`, argv gets `without_password` (the password travels in PGPASSWORD), and text that came back
from elsewhere goes through `scrub()`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

from supadeploy.errors import ConfigError

_SCHEMES = ("postgres", "postgresql")
_LOOPBACK = {"localhost", "127.0.0.1", "::1", ""}
_KEYWORD_PASSWORD = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")
# libpq keywords that are part of the URL itself rather than its query string
_URL_PARTS = {"host", "hostaddr", "port", "user", "password", "dbname"}
MASK = "****"
DEFAULT_PORT = 5432


@dataclass(frozen=True)
class DbUrl:
    """A libpq connection string; only `masked` and `without_password` are fit to show or pass on argv."""

    raw: str = field(repr=False)
    host: str
    port: int
    user: str
    dbname: str
    password: str | None = field(default=None, repr=False)
    hosts: tuple[tuple[str, int], ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    scheme: str = "postgresql"

    @classmethod
    def parse(cls, raw: str, what: str = "SUPABASE_DB_URL") -> DbUrl:
        """Parse a URL or key=value string; refuse anything else with a message that hides the password."""
        # libpq's own parser; imported here so that merely naming DbUrl (as `invoke --list` does) stays cheap.
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        text = raw.strip()
        scheme = text.split("://", 1)[0].lower() if "://" in text else ""
        if scheme and scheme not in _SCHEMES:
            raise ConfigError(f"{what} must start with postgresql:// (got a value that does not)")
        try:
            params = {k: v for k, v in conninfo_to_dict(text).items() if v is not None}
        except ProgrammingError as exc:
            reason = _scrub_guess(text, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            raise ConfigError(
                f"{what} is not a connection string libpq accepts: {reason or 'unreadable'} "
                "(expected postgresql://user:password@host:port/dbname or key=value pairs)"
            ) from None
        hosts = _hosts(str(params.get("host", "")), str(params.get("port", "")), what)
        user = str(params.get("user") or "postgres")
        dbname = str(params.get("dbname") or "postgres")
        password = params.get("password")
        options = tuple((k, str(v)) for k, v in params.items() if k not in _URL_PARTS)
        return cls(
            raw=text,
            host=hosts[0][0],
            port=hosts[0][1],
            user=user,
            dbname=dbname,
            password=None if password is None else str(password),
            hosts=hosts,
            options=options,
            scheme=scheme or "postgresql",
        )

    def _render(self, password: str | None) -> str:
        userinfo = quote(self.user, safe="")
        if password is not None:
            userinfo += ":" + password
        netloc = ",".join(f"{_host(h)}:{p}" for h, p in self.hosts)
        query = self._query()
        return f"{self.scheme}://{userinfo}@{netloc}/{quote(self.dbname, safe='')}{query}"

    def _query(self) -> str:
        if "://" in self.raw:
            found = urlsplit(self.raw).query
            return f"?{found}" if found else ""
        return f"?{urlencode(self.options)}" if self.options else ""

    @property
    def masked(self) -> str:
        """The URL with its password replaced by ****."""
        return self._render(MASK if self.password is not None else None)

    @property
    def without_password(self) -> str:
        """The URL with no password at all, for argv (the password goes in PGPASSWORD)."""
        return self._render(None)

    @property
    def where(self) -> str:
        """host:port (every host, for a multi-host string), for messages."""
        return ",".join(f"{h or 'localhost'}:{p}" for h, p in self.hosts)

    @property
    def ports(self) -> tuple[int, ...]:
        """The port of every host."""
        return tuple(p for _, p in self.hosts)

    @property
    def is_loopback(self) -> bool:
        """True when every host is on this machine (loopback or a Unix socket)."""
        return all(h in _LOOPBACK or h.startswith("/") for h, _ in self.hosts)

    def option(self, name: str) -> str | None:
        """A connection option other than host, port, user, password and dbname (e.g. sslmode)."""
        return dict(self.options).get(name)

    def scrub(self, text: str) -> str:
        """Remove this URL's password from text that came from elsewhere."""
        if self.password:
            text = text.replace(self.password, MASK).replace(quote(self.password, safe=""), MASK)
        return text

    @property
    def maintenance(self) -> DbUrl:
        """Another database on the same server, for CREATE/DROP DATABASE of this one."""
        return self.with_dbname("template1" if self.dbname == "postgres" else "postgres")

    def with_dbname(self, dbname: str) -> DbUrl:
        """The same server and credentials, another database."""
        if "://" in self.raw:
            parts = urlsplit(self.raw)
            raw = f"{parts.scheme}://{parts.netloc}/{quote(dbname, safe='')}"
            raw += f"?{parts.query}" if parts.query else ""
        else:
            from psycopg.conninfo import make_conninfo

            raw = make_conninfo(self.raw, dbname=dbname)
        return DbUrl.parse(raw)

    def with_address(self, host: str, port: int) -> DbUrl:
        """The same database and credentials at another host and port (a relay on this machine)."""
        from psycopg.conninfo import make_conninfo

        return DbUrl.parse(make_conninfo(self.raw, host=host, port=str(port)))


def _host(host: str) -> str:
    if host.startswith("/"):
        return quote(host, safe="")
    return f"[{host}]" if ":" in host else host


def _hosts(hosts: str, ports: str, what: str) -> tuple[tuple[str, int], ...]:
    """Pair each host with its port as libpq does: one port for all, or one per host."""
    names = hosts.split(",") if hosts else [""]
    given = ports.split(",") if ports else [""]
    if len(given) not in (1, len(names)):
        raise ConfigError(f"{what} names {len(names)} hosts but {len(given)} ports")
    try:
        numbers = [int(p) if p.strip() else DEFAULT_PORT for p in given]
    except ValueError:
        raise ConfigError(f"{what} has an invalid port: {ports!r}") from None
    if any(not 0 < n < 65536 for n in numbers):
        raise ConfigError(f"{what} has an invalid port: {ports!r}")
    if len(numbers) == 1:
        numbers *= len(names)
    return tuple(zip(names, numbers, strict=True))


def _scrub_guess(raw: str, text: str) -> str:
    """Remove whatever looks like the password of a string libpq could not parse."""
    guesses = [m.group(1).strip("'") for m in _KEYWORD_PASSWORD.finditer(raw)]
    try:
        guesses.append(urlsplit(raw).password or "")
    except ValueError:
        pass
    for guess in filter(None, guesses):
        text = text.replace(guess, MASK)
    if raw and raw in text:
        text = text.replace(raw, "(the value)")
    return text
