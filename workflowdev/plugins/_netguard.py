"""The address guard of http.* tasks: which IP addresses a flow may make the server connect to.

A flow can name any URL, and the server runs it from inside the operator's network: without a
guard, `http.request` to 169.254.169.254 hands the cloud instance's credentials to whoever wrote
the flow (server-side request forgery). The guard judges the address a socket is about to connect
to, not the host name in the URL, so DNS answers, DNS rebinding and redirects cannot slip past
it: `AddressPolicy.open_socket` is the HTTP client's socket factory and refuses before connect.
`GuardedResolver` applies the same policy to DNS answers first, so that a name whose every
address is refused gets one clear refusal, and a name with some allowed addresses only ever
connects to those.

Loopback stays reachable by default (a local server talking to itself is the common case);
operators who need more protection add ranges with `http_deny`.

`guarded_session` is the one place the http.* and notify.* tasks get their session from, so
neither can open a connection the guard has not judged.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from typing import Final

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed

__all__ = [
    "DEFAULT_BLOCKED",
    "AddressPolicy",
    "BlockedAddress",
    "GuardedResolver",
    "absolute_http_url",
    "guarded_session",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_BLOCKED: Final = (
    "169.254.0.0/16",  # IPv4 link-local: 169.254.169.254 is AWS, GCP, Azure and OCI metadata
    "fe80::/10",  # IPv6 link-local
    "fd00:ec2::254/128",  # AWS instance metadata over IPv6
    "100.100.100.200/32",  # Alibaba Cloud metadata
)
"""Refused unless `http_allow` lifts them: link-local ranges and cloud-metadata endpoints."""


class BlockedAddress(OSError):
    """A connection the guard refused before it was made.

    An OSError, because that is how the HTTP client expects a failed connect to look: it then
    tries the host's other addresses, and reports this one if none can be used.
    """

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"connecting to {address} is refused: {reason}")
        self.address = address
        self.reason = reason


def _networks(ranges: Iterable[str], setting: str) -> tuple[IPNetwork, ...]:
    networks = []
    for text in ranges:
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text!r} in {setting} is not an address range like 10.0.0.0/8") from None
    return tuple(networks)


@dataclass(frozen=True)
class AddressPolicy:
    """Refuse `deny` always, refuse `blocked` unless `allow` covers the address, allow the rest.

    `http_deny` wins over `http_allow`: allow only lifts the default block, so an operator's
    explicit refusal cannot be undone by a broader allowance.
    """

    allow: tuple[IPNetwork, ...] = ()
    deny: tuple[IPNetwork, ...] = ()
    blocked: tuple[IPNetwork, ...] = _networks(DEFAULT_BLOCKED, "DEFAULT_BLOCKED")

    @classmethod
    def from_settings(cls, allow: Iterable[str], deny: Iterable[str]) -> AddressPolicy:
        """The policy for the operator's `http_allow` / `http_deny`; ValueError for a bad range."""
        return cls(allow=_networks(allow, "http_allow"), deny=_networks(deny, "http_deny"))

    def refusal(self, address: str) -> str | None:
        """Why `address` must not be connected to, or None when it may be."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return "it is not an IP address"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:169.254.169.254 reaches 169.254.169.254
        for network in self.deny:
            if ip in network:
                return f"it is in {network}, listed in http_deny"
        for network in self.blocked:
            if ip in network and not any(ip in allowed for allowed in self.allow):
                return (
                    f"it is in {network}, a link-local or cloud-metadata range blocked by default; "
                    "an operator can allow it with http_allow"
                )
        return None

    def open_socket(self, addr_info: tuple[int, int, int, str, tuple[Any, ...]]) -> socket.socket:
        """The client's socket factory: a fresh socket for an allowed address, else BlockedAddress."""
        family, type_, proto, _, sockaddr = addr_info
        address = str(sockaddr[0])
        reason = self.refusal(address)
        if reason is not None:
            raise BlockedAddress(address, reason)
        return socket.socket(family=family, type=type_, proto=proto)


class GuardedResolver(AbstractResolver):
    """DNS answers without the addresses the policy refuses; BlockedAddress if none is left.

    Only a convenience for clear messages: the socket factory remains the guard, and it also
    covers IP literals, which the HTTP client never sends through a resolver. Names are looked
    up with the system's getaddrinfo (hosts file included), which leaves nothing to close.
    """

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        allowed = [answer for answer in answers if self._policy.refusal(answer["host"]) is None]
        if answers and not allowed:
            first = answers[0]["host"]
            raise BlockedAddress(first, self._policy.refusal(first) or "")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def absolute_http_url(value: JSON) -> URL | None:
    """`value` as an absolute http:// or https:// URL with a host, or None: the only kind of URL
    a task may give the guarded session. Each caller words its own refusal, because some URLs
    are secrets that a message must not repeat."""
    try:
        url = URL(value) if isinstance(value, str) else None
    except (TypeError, ValueError):
        return None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        return None
    return url


async def _close_session(session: aiohttp.ClientSession) -> None:
    await session.close()


async def guarded_session(ctx: TaskContext, key: str, *, filter_dns: bool) -> aiohttp.ClientSession:
    """The execution's shared session kept under `key`, created on first use with the operator's policy.

    Every connection it opens passes `AddressPolicy.open_socket`; with `filter_dns` the DNS
    answers are filtered first as well (`GuardedResolver`). The session takes no proxy from the
    environment, keeps no cookies and has no timeout of its own: each task bounds its exchange.
    """
    try:
        policy = AddressPolicy.from_settings(ctx.settings.http_allow, ctx.settings.http_deny)
    except ValueError as exc:
        raise TaskFailed(str(exc)) from None

    async def create() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                socket_factory=policy.open_socket, resolver=GuardedResolver(policy) if filter_dns else None
            ),
            timeout=aiohttp.ClientTimeout(),  # each task bounds its own exchange
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # a proxy from the environment would hide the real target from the guard
        )

    session: aiohttp.ClientSession = await ctx.resources.get(key, create, _close_session)
    return session
