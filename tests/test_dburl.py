from __future__ import annotations

import pytest

from supadeploy.database import DbUrl
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


@pytest.mark.parametrize("raw", ["mysql://u:p@h/db", "host=h password=p", "postgresql://u:p@h:notaport/db"])
def test_refuses_what_is_not_a_postgres_url(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DbUrl.parse(raw)
    assert ":p@" not in str(caught.value) and "password=p" not in str(caught.value)
