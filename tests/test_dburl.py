"""DbUrl on libpq's own parser: URLs, key=value strings, several hosts; the password never shown."""

from __future__ import annotations

import pytest

from supadeploy.dburl import DbUrl
from supadeploy.errors import ConfigError


def test_masked_and_without_password() -> None:
    url = DbUrl.parse("postgresql://postgres:s3cr%40t@db.example.com:6543/postgres?sslmode=require")
    assert url.password == "s3cr@t"
    assert url.masked == "postgresql://postgres:****@db.example.com:6543/postgres?sslmode=require"
    assert url.without_password == "postgresql://postgres@db.example.com:6543/postgres?sslmode=require"
    assert "s3cr" not in repr(url)
    assert url.where == "db.example.com:6543"
    assert not url.is_loopback


def test_scrub_removes_plain_and_encoded_password() -> None:
    url = DbUrl.parse("postgresql://postgres:p%2Fw@127.0.0.1:5432/postgres")
    assert url.scrub("a p/w b p%2Fw c") == "a **** b **** c"
    assert url.is_loopback


def test_no_password_means_nothing_to_mask() -> None:
    url = DbUrl.parse("postgres://me@localhost/app")
    assert url.masked == "postgres://me@localhost:5432/app"
    assert url.port == 5432


def test_with_dbname_keeps_credentials() -> None:
    url = DbUrl.parse("postgresql://u:p@h:1/a").with_dbname("b")
    assert (url.dbname, url.password, url.port) == ("b", "p", 1)


def test_key_value_strings_are_read_by_libpq() -> None:
    url = DbUrl.parse("host=db.example.com port=5433 user=deployer password='a b;c' dbname=app sslmode=require")
    assert (url.host, url.port, url.user, url.dbname, url.password) == (
        "db.example.com",
        5433,
        "deployer",
        "app",
        "a b;c",
    )
    assert url.masked == "postgresql://deployer:****@db.example.com:5433/app?sslmode=require"
    assert url.without_password == "postgresql://deployer@db.example.com:5433/app?sslmode=require"
    assert url.option("sslmode") == "require"
    other = url.with_dbname("postgres")
    assert (other.dbname, other.password, other.host) == ("postgres", "a b;c", "db.example.com")
    assert "a b;c" not in repr(url) and "a b;c" not in url.masked


def test_several_hosts_each_with_its_port() -> None:
    url = DbUrl.parse("postgresql://u:pw@h1:5432,h2:5433/app?target_session_attrs=read-write")
    assert url.hosts == (("h1", 5432), ("h2", 5433))
    assert url.where == "h1:5432,h2:5433"
    assert url.masked == "postgresql://u:****@h1:5432,h2:5433/app?target_session_attrs=read-write"
    assert url.with_dbname("other").hosts == url.hosts
    shared = DbUrl.parse("host=127.0.0.1,localhost port=6000 user=u dbname=d")
    assert shared.hosts == (("127.0.0.1", 6000), ("localhost", 6000)) and shared.is_loopback


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mysql://u:p@h/db", "must start with postgresql://"),
        ("postgresql://u:p@h:notaport/db", "invalid port"),
        ("host=h password=p port=99999", "invalid port"),
        ("host=h password=p bogus=1", "not a connection string libpq accepts"),
        ("host=h password p", "not a connection string libpq accepts"),
        ("postgresql://u:p%zz@h/db", "not a connection string libpq accepts"),
        ("host=h1,h2,h3 port=1,2 password=p", "3 hosts but 2 ports"),
    ],
)
def test_refuses_what_libpq_cannot_read_without_showing_the_password(raw: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        DbUrl.parse(raw)
    message = str(caught.value)
    assert ":p@" not in message and "password=p" not in message and "p%zz" not in message
    assert "\n" not in message


SPECIAL = "/#?@:% &=+;'\"\\[],!$"


@pytest.mark.parametrize("char", list(SPECIAL))
def test_a_password_with_a_url_special_character_never_shows(char: str) -> None:
    from urllib.parse import quote

    password = f"Zx9{char}SECRET-pw"
    encoded = DbUrl.parse(f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:5432/db?sslmode=disable")
    assert encoded.password == password
    assert encoded.masked == "postgresql://postgres:****@127.0.0.1:5432/db?sslmode=disable"
    assert encoded.with_dbname("other").password == password
    unescaped = f"postgresql://postgres:{password}@127.0.0.1:5432/db?sslmode=disable"
    try:
        url = DbUrl.parse(unescaped)
    except ConfigError as exc:
        shown = str(exc)
        assert "percent-encode" in shown
    else:  # libpq read it whole: then it is the same URL as the encoded one
        assert (url.password, url.raw, url.masked) == (password, encoded.raw, encoded.masked)
        shown = url.masked + url.without_password + url.where + url.with_dbname("x").masked
    assert "Zx9" not in shown and "SECRET" not in shown


@pytest.mark.parametrize(
    "raw",
    [
        "host=h password=Zx9 SECRET-pw port=1",
        "host=h password='Zx9 SECRET-pw port=1",
        "postgresql://u:Zx9%SECRET-pw@h/db",
        "postgresql://u:Zx9 SECRET-pw@h/db",
        "postgresql://postgres:5432/SECRET-pw@h/db",
        "postgresql://u:Zx9%cdSECRET-pw@h/db",  # %cd decodes to a byte that is no UTF-8
        "postgresql://u:Zx9%ffSECRET%cd-pw@h/db",
    ],
)
def test_what_libpq_refuses_is_refused_without_any_piece_of_the_value(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DbUrl.parse(raw)
    shown = str(caught.value)
    assert "Zx9" not in shown and "SECRET" not in shown and "0xcd" not in shown and "0xff" not in shown


def test_the_local_password_postgres_is_masked_only_where_it_stands() -> None:
    url = DbUrl.parse("postgresql://postgres:postgres@127.0.0.1:54322/postgres")
    text = (
        "failed to connect to `host=127.0.0.1 user=postgres database=postgres`: "
        "postgresql://postgres:postgres@127.0.0.1:54322/postgres /usr/share/postgresql/15/extension "
        "password=postgres PGPASSWORD=postgres"
    )
    assert url.scrub(text) == (
        "failed to connect to `host=127.0.0.1 user=postgres database=postgres`: "
        "postgresql://postgres:****@127.0.0.1:54322/postgres /usr/share/postgresql/15/extension "
        "password=**** PGPASSWORD=****"
    )
    secret = DbUrl.parse("postgresql://postgres:Zx9-SECRET-pw@127.0.0.1/postgres")
    assert secret.scrub("echoed Zx9-SECRET-pw anywhere") == "echoed **** anywhere"


def test_same_database_reads_the_parsed_url_not_its_spelling() -> None:
    here = DbUrl.parse("postgresql://postgres:pw@localhost/postgres")
    for twin in (
        "postgresql://postgres@127.0.0.1:5432/postgres",
        "postgresql://postgres@[::1]/postgres",
        "postgresql://postgres@[::ffff:127.0.0.1]/postgres",
        "postgresql://postgres@app.localhost/postgres",
        "host=/tmp dbname=postgres",
        "postgresql://reader@127.0.0.2/postgres",
    ):
        assert here.same_database(DbUrl.parse(twin)), twin
    for other in ("postgresql://postgres@localhost:5433/postgres", "postgresql://postgres@localhost/app"):
        assert not here.same_database(DbUrl.parse(other)), other
    remote = DbUrl.parse("postgresql://postgres@Db.Example.COM./postgres")
    assert remote.same_database(DbUrl.parse("host=db.example.com port=5432"))
    assert not remote.same_database(here)
    pooler = DbUrl.parse("postgresql://postgres.projecta@pooler.example:5432/postgres")
    assert pooler.same_database(DbUrl.parse("postgresql://reader.projecta@pooler.example/postgres"))
    assert not pooler.same_database(DbUrl.parse("postgresql://postgres.projectb@pooler.example/postgres"))
