"""Configuration from ``USAGE_METRICS_*`` variables and flags (docs/operations.md)."""

from __future__ import annotations

import pytest

from exporter.config import (
    Config,
    ConfigError,
    format_duration,
    normalize_database_url,
    parse_duration,
    parse_listen,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("90d", 90 * 86400),
        ("2w", 14 * 86400),
        ("1y", 365 * 86400),
        ("1d12h", 36 * 3600),
        ("500ms", 0.5),
        (" 10m ", 600),
    ],
)
def test_durations_are_prometheus_durations(text: str, seconds: float) -> None:
    """Units y, w, d, h, m, s and ms combine from largest to smallest."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "abc", "1.5h", "30m1h", "-5m", "5 m", "1H", "m"])
def test_bad_durations_are_refused(text: str) -> None:
    """Anything that is not a Prometheus duration raises ``ValueError`` quoting the input."""
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(30, "30s"), (5400, "1h30m"), (90 * 86400, "90d"), (0, "0s")]
)
def test_durations_are_written_back(seconds: float, text: str) -> None:
    """``format_duration`` is the inverse of ``parse_duration`` for whole seconds."""
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("url", "mapped"),
    [
        ("sqlite:///usage-metrics.db", "sqlite+aiosqlite:///usage-metrics.db"),
        ("sqlite:////var/lib/um.db", "sqlite+aiosqlite:////var/lib/um.db"),
        ("postgresql://u:p@db:5432/um", "postgresql+psycopg://u:p@db:5432/um"),
        ("postgres://u@db/um", "postgresql+psycopg://u@db/um"),
        ("postgresql+psycopg://u@db/um", "postgresql+psycopg://u@db/um"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_urls_are_mapped_to_async_drivers(url: str, mapped: str) -> None:
    """Plain URLs get the aiosqlite and psycopg drivers; explicit ones are kept."""
    assert normalize_database_url(url) == mapped
    assert Config.from_env({"USAGE_METRICS_DATABASE_URL": url}).database_url == mapped


@pytest.mark.parametrize("url", ["mysql://db/um", "postgresql+asyncpg://db/um", "um.db"])
def test_unsupported_database_url_is_refused(url: str) -> None:
    """Other databases and drivers are a ConfigError naming the variable."""
    with pytest.raises(ConfigError, match=r"^USAGE_METRICS_DATABASE_URL: "):
        Config.from_env({"USAGE_METRICS_DATABASE_URL": url})


def test_defaults_follow_the_spec() -> None:
    """With no variables the configuration is the documented defaults."""
    config = Config.from_env({})
    assert config == Config(
        database_url="sqlite+aiosqlite:///usage-metrics.db",
        listen_host="127.0.0.1",
        listen_port=9717,
        refresh_interval=30,
        dormancy=90 * 86400,
        retention=400 * 86400,
        default_organization="default",
        max_organizations=1000,
        report_concurrency=4,
        report_queue=16,
        metrics_token=None,
        log_level="info",
    )


def test_every_variable_is_read() -> None:
    """Each ``USAGE_METRICS_*`` variable sets its field."""
    config = Config.from_env(
        {
            "USAGE_METRICS_DATABASE_URL": "postgresql://db/um",
            "USAGE_METRICS_LISTEN": "0.0.0.0:8080",
            "USAGE_METRICS_REFRESH_INTERVAL": "1m",
            "USAGE_METRICS_DORMANCY": "30d",
            "USAGE_METRICS_RETENTION": "2y",
            "USAGE_METRICS_DEFAULT_ORGANIZATION": "coder-default",
            "USAGE_METRICS_MAX_ORGANIZATIONS": "50",
            "USAGE_METRICS_REPORT_CONCURRENCY": "2",
            "USAGE_METRICS_REPORT_QUEUE": "0",
            "USAGE_METRICS_METRICS_TOKEN": "s3cret",
            "USAGE_METRICS_LOG_LEVEL": "DEBUG",
            "UNRELATED": "ignored",
        }
    )
    assert config == Config(
        database_url="postgresql+psycopg://db/um",
        listen_host="0.0.0.0",
        listen_port=8080,
        refresh_interval=60,
        dormancy=30 * 86400,
        retention=730 * 86400,
        default_organization="coder-default",
        max_organizations=50,
        report_concurrency=2,
        report_queue=0,
        metrics_token="s3cret",
        log_level="debug",
    )


def test_flags_override_the_environment() -> None:
    """A flag given wins over its variable; a flag not given (None) leaves the variable."""
    env = {"USAGE_METRICS_RETENTION": "500d", "USAGE_METRICS_LOG_LEVEL": "error"}
    config = Config.from_env(env, {"retention": "100d", "log_level": None, "listen": "[::1]:9000"})
    assert (config.retention, config.log_level) == (100 * 86400, "error")
    assert (config.listen_host, config.listen_port) == ("::1", 9000)


def test_bad_flag_is_named_like_its_variable() -> None:
    """A bad flag value is reported under the variable it overrides."""
    with pytest.raises(ConfigError, match=r"^USAGE_METRICS_DORMANCY: 'soon' is not a duration"):
        Config.from_env({}, {"dormancy": "soon"})


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("RETENTION", "abc", "not a duration"),
        ("DORMANCY", "1h", "shorter than the minimum"),
        ("RETENTION", "12h", "shorter than the minimum"),
        ("REFRESH_INTERVAL", "0s", "shorter than the minimum"),
        ("LISTEN", "9717", "not an address"),
        ("LISTEN", "localhost:0", "not an address"),
        ("LISTEN", "localhost:65536", "not an address"),
        ("LISTEN", "localhost:http", "not an address"),
        ("MAX_ORGANIZATIONS", "0", "not a positive whole number"),
        ("MAX_ORGANIZATIONS", "ten", "not a positive whole number"),
        ("MAX_ORGANIZATIONS", "-3", "not a positive whole number"),
        ("REPORT_CONCURRENCY", "0", "not a whole number of at least 1"),
        ("REPORT_CONCURRENCY", "many", "not a whole number of at least 1"),
        ("REPORT_QUEUE", "-1", "not a whole number of at least 0"),
        ("DEFAULT_ORGANIZATION", "my org", "must be 1-64 characters"),
        ("LOG_LEVEL", "verbose", "not one of"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, reason: str) -> None:
    """A bad value is one line: the variable, then what is wrong."""
    with pytest.raises(ConfigError) as caught:
        Config.from_env({f"USAGE_METRICS_{name}": value})
    message = str(caught.value)
    assert message.startswith(f"USAGE_METRICS_{name}: ")
    assert reason in message
    assert "\n" not in message


def test_retention_shorter_than_dormancy_is_refused() -> None:
    """Dormancy needs the activity it looks back over, so retention must be at least as long."""
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"USAGE_METRICS_RETENTION": "30d"})
    assert str(caught.value) == (
        "USAGE_METRICS_RETENTION (30d) must not be shorter than USAGE_METRICS_DORMANCY (90d)"
    )
    config = Config.from_env({"USAGE_METRICS_RETENTION": "30d", "USAGE_METRICS_DORMANCY": "30d"})
    assert config.retention == config.dormancy == 30 * 86400


def test_empty_variables_mean_the_default() -> None:
    """``USAGE_METRICS_X=`` (set but empty) is the same as unset."""
    assert Config.from_env({"USAGE_METRICS_RETENTION": "", "USAGE_METRICS_LISTEN": ""}) == Config()


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:9717", ("127.0.0.1", 9717)), ("[::]:80", ("::", 80)), ("host:1", ("host", 1))],
)
def test_listen_addresses(text: str, address: tuple[str, int]) -> None:
    """``host:port`` and bracketed IPv6 addresses parse."""
    assert parse_listen(text) == address


def test_config_is_immutable() -> None:
    """A built configuration cannot be changed."""
    config = Config()
    with pytest.raises(AttributeError):
        config.retention = 1  # type: ignore[misc]
