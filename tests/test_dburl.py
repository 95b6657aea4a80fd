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
