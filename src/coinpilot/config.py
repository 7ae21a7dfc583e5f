"""Settings from environment variables (prefix ``COINPILOT_``) and an optional TOML file.

Validation happens at load: a bad value stops start-up with a message naming the setting, and
safety limits above the hard caps in :mod:`coinpilot.domain.limits` are refused outright.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from coinpilot.domain.limits import SafetyLimits, limit_violations
from coinpilot.domain.types import TemperatureLevel, TradingMode

COINBASE_PRODUCTION_HOST = "api.coinbase.com"


class LimitsConfig(BaseModel):
    """Mirror of :class:`SafetyLimits` for settings; checked against the hard caps on load."""

    model_config = ConfigDict(extra="forbid")

    max_trade_usd: Decimal = SafetyLimits.max_trade_usd
    min_trade_usd: Decimal = SafetyLimits.min_trade_usd
    daily_loss_limit_usd: Decimal = SafetyLimits.daily_loss_limit_usd
    max_daily_trades: int = SafetyLimits.max_daily_trades
    max_daily_trades_per_bot: int = SafetyLimits.max_daily_trades_per_bot
    cooldown_minutes: int = SafetyLimits.cooldown_minutes
    max_tranches: int = SafetyLimits.max_tranches
    max_position_usd_per_bot: Decimal = SafetyLimits.max_position_usd_per_bot
    max_total_exposure_usd: Decimal = SafetyLimits.max_total_exposure_usd
    max_consecutive_losses: int = SafetyLimits.max_consecutive_losses
    loss_streak_lookback_hours: int = SafetyLimits.loss_streak_lookback_hours
    loss_streak_lock_hours: int = SafetyLimits.loss_streak_lock_hours
    daily_loss_limit_per_position_usd: Decimal = SafetyLimits.daily_loss_limit_per_position_usd
    weekly_loss_limit_per_position_usd: Decimal = SafetyLimits.weekly_loss_limit_per_position_usd
    min_reserved_balance_usd: Decimal = SafetyLimits.min_reserved_balance_usd
    min_entry_temperature: TemperatureLevel | None = SafetyLimits.min_entry_temperature

    @model_validator(mode="after")
    def _within_caps(self) -> LimitsConfig:
        problems = limit_violations(self.to_domain())
        if problems:
            raise ValueError("; ".join(f"limits.{name}: {msg}" for name, msg in problems))
        return self

    def to_domain(self) -> SafetyLimits:
        return SafetyLimits(**self.model_dump())


class AlertsConfig(BaseModel):
    """Where alerts go (Apprise URLs) and how often they may repeat. No URLs: no alerts."""

    model_config = ConfigDict(extra="forbid")

    # Apprise URLs, e.g. ["json://127.0.0.1:9000/", "tgram://BOT_TOKEN/CHAT_ID"]. Secrets: never logged.
    urls: list[SecretStr] = Field(default_factory=list)
    dedupe_minutes: float = Field(default=60.0, gt=0, le=7 * 24 * 60)
    max_per_hour: int = Field(default=20, ge=1, le=1000)
    check_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    exchange_unreachable_minutes: float = Field(default=5.0, gt=0, le=24 * 60)
    trade_attention_minutes: float = Field(default=10.0, gt=0, le=24 * 60)

    @field_validator("urls", mode="after")
    @classmethod
    def _apprise_urls(cls, urls: list[SecretStr]) -> list[SecretStr]:
        for i, url in enumerate(urls):
            if "://" not in url.get_secret_value():
                raise ValueError(f"entry {i} is not a URL (scheme://...); see Apprise's URL list")
        return urls


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COINPILOT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    home: Path = Field(default_factory=lambda: Path.home() / ".coinpilot")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    api_token: SecretStr | None = None
    # Host header names the server answers to (DNS-rebinding defence); add the name you reach
    # it under if you expose it beyond this machine (``serve --expose``).
    allowed_hosts: list[str] = Field(default_factory=lambda: ["127.0.0.1", "localhost", "::1"])
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # auto: JSON lines unless stderr is a terminal (the log file is always JSON unless "text").
    log_format: Literal["auto", "json", "text"] = "auto"

    trading_mode: TradingMode = TradingMode.MOCK
    # Where mock mode gets its prices: shipped history ("replay") or Coinbase's public data.
    market_data: Literal["replay", "coinbase"] = "replay"
    replay_speed: float = Field(default=1.0, gt=0, le=1_000_000)
    replay_start: str | None = None  # ISO time inside the shipped data; default: its start

    coinbase_api_key: SecretStr | None = None
    coinbase_api_secret: SecretStr | None = None
    coinbase_key_file: Path | None = None
    coinbase_base_url: str = COINBASE_PRODUCTION_HOST
    # CA certificate to trust for a loopback Coinbase stand-in (tests); refused for other hosts.
    coinbase_ca_cert: Path | None = None
    coinbase_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    coinbase_max_requests_per_second: float = Field(default=20.0, gt=0, le=30)

    engine_interval_seconds: float = Field(default=60.0, gt=0, le=86_400)
    sync_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    # An unsent order is re-sent (with a fresh safety approval) only while younger than this.
    pending_resend_max_age_seconds: float = Field(default=30.0, gt=0, le=3600)
    # The exchange breaker returns to ACTIVE after the exchange answered normally this long.
    exchange_breaker_recover_seconds: float = Field(default=600.0, gt=0, le=86_400)
    candle_cache_ttl_seconds: float = Field(default=30.0, ge=0, le=3600)
    evaluation_retention: int = Field(default=1000, ge=10, le=1_000_000)
    # SIGTERM: how long in-flight orders may take to finish before the process exits anyway.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=300)
    # /ready fails when a due order has waited longer than this for order sync.
    sync_lag_limit_seconds: float = Field(default=60.0, gt=0, le=86_400)

    paper_fee_rate: Decimal = Field(default=Decimal("0.006"), ge=0, le=Decimal("0.05"))
    paper_slippage_bps: Decimal = Field(default=Decimal("5"), ge=0, le=500)
    paper_fill_delay_seconds: float = Field(default=0.2, ge=0, le=60)
    paper_starting_usd: Decimal = Field(default=Decimal("1000"), gt=0)
    # `coinpilot optimize` runs its trials on this Dask cluster (tcp://host:8786) when set.
    dask_address: str | None = Field(default=None, max_length=200)

    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("COINPILOT_CONFIG")
        if config_file:
            path = Path(config_file).expanduser()
            _check_config_file(path)
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("api_token", mode="after")
    @classmethod
    def _strong_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            check_token_strength(v.get_secret_value())
        return v

    @field_validator("coinbase_base_url", mode="after")
    @classmethod
    def _plain_host_and_port(cls, v: str) -> str:
        parse_base_url(v)
        return v

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """One database, never several by accident: relative SQLite paths become absolute."""
        if not self.database_url:
            return f"sqlite:///{(self.home / 'coinpilot.db').resolve()}"
        return absolutize_sqlite_url(self.database_url)

    @property
    def safety_limits(self) -> SafetyLimits:
        return self.limits.to_domain()

    def has_coinbase_keys(self) -> bool:
        return bool(self.coinbase_key_file) or bool(self.coinbase_api_key and self.coinbase_api_secret)

    def coinbase_is_loopback(self) -> bool:
        return is_loopback_host(self.coinbase_base_url)


def _check_config_file(path: Path) -> None:
    """A named config file must exist and parse: a silently ignored file would start the server
    on defaults the user did not choose (e.g. a higher max trade size)."""
    try:
        with path.open("rb") as fh:
            tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} (COINPILOT_CONFIG) does not exist: create it or unset COINPILOT_CONFIG"
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} (COINPILOT_CONFIG) cannot be read: {exc}") from None


MIN_TOKEN_LENGTH = 32


def check_token_strength(token: str) -> None:
    """An API token guards every state-changing route: at least 32 characters, no spaces."""
    if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise ValueError(
            f"the API token must be at least {MIN_TOKEN_LENGTH} characters without spaces; "
            "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )


def absolutize_sqlite_url(url: str) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:" and not rest.startswith("file:"):
            return prefix + str(Path(rest).expanduser().resolve())
    return url


_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_BASE_URL = re.compile(
    rf"(?:(?P<name>{_HOST_LABEL}(?:\.{_HOST_LABEL})*)|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(?::(?P<port>[0-9]{{1,5}}))?"
)


def parse_base_url(base_url: str) -> tuple[str, int | None]:
    """The host and port the HTTP client will connect to, or ValueError.

    The SDK builds ``https://{base_url}{path}``, so anything beyond ``host[:port]`` — a scheme,
    userinfo, a path, a backslash or an ``@`` — would be read differently by different URL
    parsers (``host\\@127.0.0.1`` is loopback to one and the first host to another). Only the
    plain form is accepted, matched whole (``fullmatch``: no trailing newline slips through).
    """
    m = _BASE_URL.fullmatch(base_url)
    if m is None:
        raise ValueError(
            f"{base_url!r} is not a host with an optional port (e.g. 127.0.0.1:8443): "
            "no scheme, user, path, backslash or '@'"
        )
    host = m["name"] or m["ipv6"]
    if m["ipv6"] is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{base_url!r}: {host!r} is not an IPv6 address") from None
    port = int(m["port"]) if m["port"] is not None else None
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{base_url!r}: port must be between 1 and 65535")
    return host, port


def is_loopback_host(base_url: str) -> bool:
    """True only for a well-formed ``host[:port]`` whose parsed host is a loopback address."""
    try:
        host, _port = parse_base_url(base_url)
    except ValueError:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def running_under_test() -> bool:
    """True inside pytest or when COINPILOT_UNDER_TEST is set (subprocesses started by tests)."""
    return "pytest" in sys.modules or os.environ.get("COINPILOT_UNDER_TEST") == "1"


class ConfigError(Exception):
    """Configuration is invalid; the message names the setting and says what to do."""


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            env = "COINPILOT_" + loc.upper().replace(".", "__")
            lines.append(f"{loc} ({env}): {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None
