"""ClientMetadata from a request: the User-Agent header and the client's IP address.

The User-Agent is parsed with `ua-parser` (the maintained Python port of the uap-core rules,
with its Rust accelerator); the device class is derived from what it finds:

- `bot`: uap-core's device family `Spider` (crawlers, monitors, link previewers), or a
  User-Agent naming itself a bot, crawler or spider;
- `tablet`: iPad, Kindle and other tablets uap-core knows, Android without "Mobile" (Google's
  rule for Android tablets), or a User-Agent saying "Tablet";
- `mobile`: iPhone/iPod, a phone OS (Android, iOS, Windows Phone, ...) or a mobile browser;
- `desktop`: a browser on Windows, macOS, Linux, ChromeOS or a BSD;
- `other`: anything else (HTTP libraries, command line tools, an empty header).

The IP address is the connection's peer, or the first address of the trusted proxy header when
one is configured (`X-Forwarded-For: client, proxy1, proxy2` or RFC 7239 `Forwarded: for=...`).
Anonymisation zeroes the last octet of an IPv4 address and the last 80 bits of an IPv6 one.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from functools import lru_cache

from ua_parser import parse

from ingestion.events import ClientMetadata

log = logging.getLogger(__name__)

MAX_USER_AGENT_CHARS = 1024  # longer headers are cut before parsing and storing

_BOT_WORDS = re.compile(r"bot\b|crawl|spider|slurp|headless", re.IGNORECASE)
_TABLET_DEVICES = {"iPad", "Kindle", "Kindle Fire", "Surface", "Generic Tablet"}
_TABLET_BRANDS = {"Generic_Android_Tablet"}
_MOBILE_DEVICES = {"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone"}
_MOBILE_BRANDS = {"Generic_Android", "Generic_Inettv"}
_MOBILE_OS = {
    "Android",
    "iOS",
    "Windows Phone",
    "Windows Mobile",
    "BlackBerry OS",
    "BlackBerry Tablet OS",
    "Firefox OS",
    "KaiOS",
    "Symbian OS",
    "Symbian^3",
    "Tizen",
    "webOS",
    "Sailfish",
    "HarmonyOS",
}
_DESKTOP_OS = {
    "Windows",
    "Mac OS X",
    "Linux",
    "Ubuntu",
    "Debian",
    "Fedora",
    "Chrome OS",
    "ChromeOS",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
    "Solaris",
}


def _device_type(user_agent: str, browser: str, os_family: str, device: str, brand: str) -> str:
    if device == "Spider" or brand == "Spider" or _BOT_WORDS.search(user_agent):
        return "bot"
    if (
        device in _TABLET_DEVICES
        or brand in _TABLET_BRANDS
        or "Tablet" in user_agent
        or (os_family == "Android" and "Mobile" not in user_agent)
    ):
        return "tablet"
    if (
        device in _MOBILE_DEVICES
        or brand in _MOBILE_BRANDS
        or os_family in _MOBILE_OS
        or "Mobile" in browser
    ):
        return "mobile"
    if os_family in _DESKTOP_OS or os_family.startswith("Windows"):
        return "desktop"
    return "other"


@lru_cache(maxsize=4096)
def parse_user_agent(user_agent: str) -> tuple[str, str, str]:
    """(device type, browser family, OS family) of a User-Agent header; cached."""
    if not user_agent.strip():
        return "other", "", ""
    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else ""
    os_family = result.os.family if result.os else ""
    device = result.device.family if result.device else ""
    brand = (result.device.brand or "") if result.device else ""
    browser = "" if browser == "Other" else browser
    os_family = "" if os_family == "Other" else os_family
    return _device_type(user_agent, browser, os_family, device, brand), browser, os_family


def warm_up() -> None:
    """Load the parser's rules now (about 0.1 s) rather than on the first request."""
    parse("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")


def _address_from_token(token: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:443`, `"[2001:db8::1]"`, ..."""
    token = token.strip().strip('"')
    if token.startswith("["):
        token = token[1 : token.find("]")] if "]" in token else token[1:]
    elif token.count(":") == 1:  # IPv4 with a port
        token = token.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(token)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forwarded_client(header_name: str, value: str) -> str | None:
    """The original client's address from a proxy header's value: its first address."""
    first = value.split(",", 1)[0].strip()
    if header_name.lower() == "forwarded":  # RFC 7239: for=192.0.2.60;proto=http;by=...
        for pair in first.split(";"):
            name, _, token = pair.partition("=")
            if name.strip().lower() == "for":
                first = token
                break
        else:
            return None
    address = _address_from_token(first)
    return None if address is None else str(address)


def anonymize_ip(ip: str) -> str:
    """IPv4: last octet zeroed (/24). IPv6: last 80 bits zeroed (/48). Not an IP: unchanged."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def client_ip(
    peer: str | None,
    headers: Mapping[str, str] | None = None,
    trusted_proxy_header: str | None = None,
    anonymize: bool = False,
) -> str:
    """The client's IP: the trusted proxy header's first address when configured and valid,
    else the connection's peer; anonymised when asked."""
    ip = ""
    if peer:
        address = _address_from_token(peer)
        ip = str(address) if address is not None else ""
    if trusted_proxy_header and headers is not None:
        value = headers.get(trusted_proxy_header.lower())
        if value:
            forwarded = forwarded_client(trusted_proxy_header, value)
            if forwarded is None:
                log.debug("ignoring unparseable %s header %r", trusted_proxy_header, value)
            else:
                ip = forwarded
    return anonymize_ip(ip) if anonymize and ip else ip


def client_metadata(user_agent: str, ip: str) -> ClientMetadata:
    user_agent = user_agent[:MAX_USER_AGENT_CHARS]
    device_type, browser, operating_system = parse_user_agent(user_agent)
    return ClientMetadata(
        device_type=device_type,
        browser=browser,
        operating_system=operating_system,
        user_agent=user_agent,
        ip_address=ip,
    )
