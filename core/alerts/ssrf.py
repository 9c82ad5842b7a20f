"""Where alerts may be sent: a guard against server-side request forgery.

Outside sandbox mode a webhook must be `https`, and every address its host resolves to must be public: no
loopback, link-local (169.254.0.0/16, the cloud metadata address among them), private, shared, reserved,
multicast or unspecified address, unless the configured allowlist (`PW_ALERTS_ALLOW`: host names, addresses
or CIDR ranges) names it. Sandbox mode allows `http` and local addresses (the sandbox's own receiver).
The same check applies to SMTP servers. The address that passed is the one connected to (`Target.ip`), so a
DNS answer that changes between the check and the request cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import UserError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))


class TargetRefused(UserError):
    """An alert target is not allowed; the message says why and what to change."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    ip: str


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetRefused(f"{host} does not resolve ({exc.strerror}).") from None
    return sorted({str(info[4][0]) for info in infos})


def _forbidden(ip: IPAddress) -> str | None:
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "not a routable address"
    if ip.is_private or not ip.is_global:
        return "a private address"
    return None


class Guard:
    """Vets alert targets against the mode and the allowlist."""

    def __init__(self, *, sandbox: bool, allow: Sequence[str] = (), resolver: Resolver | None = None) -> None:
        self.sandbox = sandbox
        self._hosts = {entry.strip().lower() for entry in allow if entry.strip() and not _is_network(entry)}
        self._networks = [ipaddress.ip_network(entry.strip(), strict=False) for entry in allow if _is_network(entry)]
        self._resolver = resolver or _resolve

    def check_url(self, url: str) -> Target:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise TargetRefused("A webhook URL starts with https://.")
        if scheme == "http" and not self.sandbox:
            raise TargetRefused("Webhook URLs must use https:// (plain http is only allowed in sandbox mode).")
        if not parts.hostname:
            raise TargetRefused("The webhook URL has no host name.")
        if parts.username or parts.password:
            raise TargetRefused("Put no user name or password in the webhook URL.")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise TargetRefused("The webhook URL has an invalid port.") from None
        return self.check_host(parts.hostname, port, scheme=scheme)

    def check_host(self, host: str, port: int, *, scheme: str = "smtp") -> Target:
        host = host.strip().lower().strip("[]")
        addresses = self._resolver(host, port)
        if not addresses:
            raise TargetRefused(f"{host} does not resolve.")
        if not self.sandbox and host not in self._hosts:
            for address in addresses:
                ip = ipaddress.ip_address(address.split("%")[0])
                reason = _forbidden(ip)
                if reason and not any(ip in net for net in self._networks):
                    raise TargetRefused(
                        f"{host} resolves to {address}, {reason}: alerts are not sent there. If this receiver is "
                        "yours, add it to PW_ALERTS_ALLOW."
                    )
        return Target(scheme=scheme, host=host, port=port, ip=addresses[0])


def _is_network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return False
    return True
