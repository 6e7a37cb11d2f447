"""TCP port checks: is a port free to listen on, who holds it, can we connect to it."""

from __future__ import annotations

import contextlib
import errno
import logging
import socket

import psutil

log = logging.getLogger(__name__)


def port_is_free(host: str, port: int) -> bool:
    """True when a server could listen on `host:port` right now.

    SO_REUSEADDR as servers set it: a port whose only sockets are in TIME_WAIT counts as free,
    a port with a listener (or a socket bound without SO_REUSEADDR) does not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_holder(port: int) -> str | None:
    """`pid N (name)` of the process listening on `port`, when the system lets us see it."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for connection in connections:
        if (
            connection.laddr
            and connection.laddr.port == port
            and connection.status in (psutil.CONN_LISTEN, psutil.CONN_NONE)
            and connection.pid is not None
        ):
            name = "?"
            with contextlib.suppress(psutil.Error):
                name = psutil.Process(connection.pid).name()
            return f"pid {connection.pid} ({name})"
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel considers free right now (bind to port 0 and read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def accepts_connections(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts a TCP connection on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
