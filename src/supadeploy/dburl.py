"""A database connection string that never shows its password: parsed by libpq (psycopg.conninfo).

Both forms libpq reads are accepted, `postgresql://user:pw@host:port/db?opts` and `host=... password=...`,
with several hosts (`h1:5432,h2:5433`) as libpq allows. `raw` is for the driver only; people see
`masked`, argv gets `without_password` (the password travels in PGPASSWORD), and text that came back
from elsewhere goes through `scrub()`. Everything shown is rebuilt from what libpq parsed, never cut
out of the raw text: a password with an unescaped `/`, `#`, `?` or `@` is read differently by other
parsers, and a piece of it must not end up in a host, a query string or a message.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from supadeploy.errors import ConfigError

_SCHEMES = ("postgres", "postgresql")
_LOOPBACK = {"localhost", "127.0.0.1", "::1", ""}
# What libpq puts in quotes in its parse errors is a piece of the value: never repeat it.
_QUOTED = re.compile(r'"([^"]*)"')
# A host name, an IPv4 or IPv6 address, or a Unix socket folder: anything else is a misread password.
_HOST = re.compile(r"^(?:[A-Za-z0-9_.-]*|[0-9A-Fa-f:.%]+|/.*)$")
# libpq keywords that are part of the URL itself rather than its query string
_URL_PARTS = {"host", "port", "user", "password", "dbname"}
_UNESCAPED = "percent-encode any @ : / ? # % or space in the password"
MASK = "****"
DEFAULT_PORT = 5432
# Every spelling of "this machine" (localhost, 127.0.0.1, ::1, a Unix socket) as one endpoint host.
THIS_MACHINE = "(this machine)"


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
        except UnicodeDecodeError:  # a %-escape that decodes to bytes that are no UTF-8: nothing of it is shown
            raise ConfigError(
                f"{what} has a %-escape that is not UTF-8 text (a password with a bare %?): {_UNESCAPED}"
            ) from None
        except ProgrammingError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
            hint = f"; {_UNESCAPED}" if scheme else ""
            raise ConfigError(
                f"{what} is not a connection string libpq accepts: {_QUOTED.sub(_hidden, first)} "
                f"(expected postgresql://user:password@host:port/dbname or key=value pairs{hint})"
            ) from None
        hosts = _hosts(str(params.get("host", "")), str(params.get("port", "")), what, url=bool(scheme))
        user = str(params.get("user") or "postgres")
        dbname = str(params.get("dbname") or "postgres")
        if scheme and ("@" in dbname or "/" in dbname):
            raise ConfigError(f"{what} does not read as user:password@host:port/dbname: {_UNESCAPED}")
        password = None if params.get("password") is None else str(params["password"])
        options = tuple((k, str(v)) for k, v in params.items() if k not in _URL_PARTS)
        given = {k: str(params[k]) for k in ("user", "dbname") if k in params}
        # A URL is rebuilt from what libpq read, so that nothing downstream re-reads the original text.
        rebuilt = _url(scheme, given.get("user"), password, hosts, given.get("dbname"), options) if scheme else text
        return cls(
            raw=rebuilt,
            host=hosts[0][0],
            port=hosts[0][1],
            user=user,
            dbname=dbname,
            password=password,
            hosts=hosts,
            options=options,
            scheme=scheme or "postgresql",
        )

    def _render(self, password: str | None) -> str:
        return _url(self.scheme, self.user, password, self.hosts, self.dbname, self.options, encoded=True)

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

    @property
    def endpoints(self) -> frozenset[tuple[str, int]]:
        """(host, port) of every host, each host spelled one way.

        Names in lower case, addresses in their canonical form; localhost, every loopback address and a
        Unix socket are this machine. A missing port is already 5432.
        """
        return frozenset((_canonical_host(h), p) for h, p in self.hosts)

    @property
    def database_keys(self) -> frozenset[tuple[str, int, str, str]]:
        """One key per host this URL reaches its database at: two URLs that share a key may name one database.

        The user tells databases apart only where it names a pooler's tenant (Supavisor's `role.<project
        ref>`): two roles of one server reach the same database.
        """
        tenant = self.user.rpartition(".")[2] if "." in self.user else ""
        return frozenset((host, port, self.dbname, tenant) for host, port in self.endpoints)

    def same_database(self, other: DbUrl) -> bool:
        """True when other may name this URL's database, however its host and port are spelled."""
        return bool(self.database_keys & other.database_keys)

    def option(self, name: str) -> str | None:
        """A connection option other than host, port, user, password and dbname (e.g. sslmode)."""
        return dict(self.options).get(name)

    def scrub(self, text: str) -> str:
        """Remove this URL's password from text that came from elsewhere, where it stands as a password.

        In a URL's user info and after `password=` always; anywhere else only when it cannot be an
        ordinary word: the local password is `postgres`, and `user=postgres` or `/usr/share/postgresql`
        must stay readable.
        """
        if not self.password:
            return text
        for secret in dict.fromkeys((self.password, quote(self.password, safe=""))):
            escaped = re.escape(secret)
            text = re.sub(rf"(://[^\s:/@]*:){escaped}(?=@)", rf"\g<1>{MASK}", text)
            text = re.sub(rf"(password\s*[=:]\s*['\"]?){escaped}", rf"\g<1>{MASK}", text, flags=re.IGNORECASE)
            if not _plain_word(self.password):
                text = text.replace(secret, MASK)
        return text

    @property
    def maintenance(self) -> DbUrl:
        """Another database on the same server, for CREATE/DROP DATABASE of this one."""
        return self.with_dbname("template1" if self.dbname == "postgres" else "postgres")

    def with_dbname(self, dbname: str) -> DbUrl:
        """The same server and credentials, another database."""
        return self._with(dbname=dbname)

    def with_user(self, user: str) -> DbUrl:
        """The same server, database and password, another role."""
        return self._with(user=user)

    def _with(self, **changes: str) -> DbUrl:
        if "://" in self.raw:
            parts = {"user": self.user, "dbname": self.dbname, **changes}
            raw = _url(self.scheme, parts["user"], self.password, self.hosts, parts["dbname"], self.options)
        else:
            from psycopg.conninfo import make_conninfo

            raw = make_conninfo(self.raw, **changes)
        return DbUrl.parse(raw)

    def with_address(self, host: str, port: int) -> DbUrl:
        """The same database and credentials at another host and port (a relay on this machine)."""
        from psycopg.conninfo import make_conninfo

        return DbUrl.parse(make_conninfo(self.raw, host=host, port=str(port)))


def _url(
    scheme: str,
    user: str | None,
    password: str | None,
    hosts: tuple[tuple[str, int], ...],
    dbname: str | None,
    options: tuple[tuple[str, str], ...],
    *,
    encoded: bool = False,
) -> str:
    """A URL built from parsed parts (the password percent-encoded, unless it is already a mask)."""
    userinfo = quote(user, safe="") if user is not None else ""
    if password is not None:
        userinfo += ":" + (password if encoded else quote(password, safe=""))
    netloc = ",".join(f"{_host(h)}:{p}" for h, p in hosts)
    path = f"/{quote(dbname, safe='')}" if dbname is not None else ""
    query = f"?{urlencode(options)}" if options else ""
    return f"{scheme}://{userinfo}{'@' if userinfo else ''}{netloc}{path}{query}"


def _hidden(quoted: re.Match[str]) -> str:
    """A quoted piece of a libpq message, unless it is one character of syntax (such as "=")."""
    return quoted[0] if len(quoted[1]) <= 1 else '"(part of the value)"'


def _plain_word(password: str) -> bool:
    """A password that reads as an ordinary word (letters only, short): it is masked only where it stands."""
    return password.isalpha() and len(password) <= 12


def _canonical_host(host: str) -> str:
    """One spelling per host: this machine for loopback and sockets, the canonical form of an address."""
    name = host.lower().rstrip(".")  # a DNS name: case and a final dot do not matter
    if host.startswith("/") or name in _LOOPBACK or name.endswith(".localhost"):
        return THIS_MACHINE
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return name
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return THIS_MACHINE if address.is_loopback else address.compressed


def _host(host: str) -> str:
    if host.startswith("/"):
        return quote(host, safe="")
    return f"[{host}]" if ":" in host else host


def _hosts(hosts: str, ports: str, what: str, *, url: bool = False) -> tuple[tuple[str, int], ...]:
    """Pair each host with its port as libpq does: one port for all, or one per host.

    Never repeats a port or a host that is not one: in a URL they can be pieces of a misread password.
    """
    names = hosts.split(",") if hosts else [""]
    given = ports.split(",") if ports else [""]
    if len(given) not in (1, len(names)):
        raise ConfigError(f"{what} names {len(names)} hosts but {len(given)} ports")
    hint = f": {_UNESCAPED}" if url else ""
    try:
        numbers = [int(p) if p.strip() else DEFAULT_PORT for p in given]
    except ValueError:
        raise ConfigError(f"{what} has an invalid port (not a number){hint}") from None
    if any(not 0 < n < 65536 for n in numbers):
        raise ConfigError(f"{what} has an invalid port (not between 1 and 65535){hint}")
    if any(not _HOST.match(name) for name in names):
        raise ConfigError(f"{what} has a host that is not a host name or address{hint}")
    if len(numbers) == 1:
        numbers *= len(names)
    return tuple(zip(names, numbers, strict=True))
