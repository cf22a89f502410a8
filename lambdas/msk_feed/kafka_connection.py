"""How the MSK functions connect to the cluster: Kafka over TLS with IAM authentication (SASL/OAUTHBEARER).

The token is a SigV4-presigned ``kafka-cluster:Connect`` URL that the AWS signer library builds locally
from the function's own credentials (Lambda's environment): no call to STS or any other AWS endpoint,
so the functions need no network path out of the cluster's isolated subnets for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
from common.settings import EnvSettings
from kafka.net.sasl.oauth import AbstractTokenProvider

# host:port, as in the cluster's BootstrapBrokerStringSaslIam (comma-separated).
_BROKER = re.compile(r"[A-Za-z0-9.-]+:[0-9]{1,5}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
REQUEST_TIMEOUT_MS = 30_000


class ConfigError(ValueError):
    """The function's configuration is incomplete or invalid; the message names what is wrong."""


@dataclass(frozen=True)
class Connection:
    bootstrap_servers: tuple[str, ...]
    region: str

    @classmethod
    def parse(cls, bootstrap_servers: str, region: str, *, what: str = "BOOTSTRAP_SERVERS") -> Connection:
        """Validate a comma-separated ``host:port`` list and an AWS region name."""
        servers = tuple(server.strip() for server in bootstrap_servers.split(",") if server.strip())
        if not servers:
            raise ConfigError(f"{what} must list the cluster's brokers as host:port, got nothing")
        for server in servers:
            if not _BROKER.fullmatch(server):
                raise ConfigError(f"{what}: {server!r} is not host:port")
        if not _REGION.fullmatch(region.strip()):
            raise ConfigError(f"AWS_REGION must be an AWS region name, got {region!r}")
        return cls(bootstrap_servers=servers, region=region.strip())

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Connection:
        """``BOOTSTRAP_SERVERS`` and ``AWS_REGION``, read with :mod:`common.settings`' rules, checked as ``parse``."""
        settings = EnvSettings(env, error=ConfigError)
        return cls.parse(settings.raw("BOOTSTRAP_SERVERS"), settings.raw("AWS_REGION"))


class MskIamTokenProvider(AbstractTokenProvider):  # type: ignore[misc]  # kafka-python ships no type hints
    """kafka-python's OAUTHBEARER token provider, signing with the function's IAM credentials.

    kafka-python 3 accepts only subclasses of its ``AbstractTokenProvider``; a token lasts 15 minutes
    and is asked for at every new connection, so none is cached here.
    """

    def __init__(
        self, region: str, sign: Callable[[str], tuple[str, int]] = MSKAuthTokenProvider.generate_auth_token
    ) -> None:
        super().__init__()
        self._region = region
        self._sign = sign

    def token(self) -> str:
        token, _expiry_ms = self._sign(self._region)
        return token


def client_settings(connection: Connection, client_id: str) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaAdminClient and KafkaProducer."""
    return {
        "bootstrap_servers": list(connection.bootstrap_servers),
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "OAUTHBEARER",
        "sasl_oauth_token_provider": MskIamTokenProvider(connection.region),
        "client_id": client_id,
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
    }
