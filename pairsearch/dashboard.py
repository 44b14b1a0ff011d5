"""Serving a storage: optuna-dashboard (``pairsearch dashboard``) and Optuna's gRPC proxy.

Both bind 127.0.0.1 unless told otherwise, and a port in use is one clear line.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

from pairsearch.errors import PairsearchError
from pairsearch.storage.handle import StorageHandle
from pairsearch.storage.proxy import serve_grpc_proxy


def check_port_free(*, host: str, port: int) -> None:
    """Refuse, before starting a server, a --host that is no address of this machine or a port in use."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    except (OSError, UnicodeError, ValueError) as error:  # socket.gaierror, an over-long or NUL label
        raise PairsearchError(f"cannot serve on --host {host!a}: {_reason(error)} "
                              "(give an address or host name of this machine, e.g. 127.0.0.1)") from None
    with socket.socket(family, kind) as probe:
        try:
            probe.bind(address)
        except OSError as error:
            raise PairsearchError(f"cannot serve on {host}:{port}: {_bind_advice(error)}") from None


def _bind_advice(error: OSError) -> str:
    """What a refused bind means for the user: the host, the port, or something else."""
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{error.strerror} (--host is not an address of this machine)"
    if error.errno == errno.EADDRINUSE:
        return f"{error.strerror}; choose another --port"
    if error.errno == errno.EACCES:
        return f"{error.strerror} (ports below 1024 need privileges); choose another --port"
    return _reason(error)


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def serve(*, handle: StorageHandle, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Block serving the dashboard until Ctrl-C."""
    import optuna_dashboard

    storage = handle.open(readonly=True)
    check_port_free(host=host, port=port)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    announce(f"optuna-dashboard for {handle.redacted} at http://{shown_host}:{port}/ (Ctrl-C stops)")
    optuna_dashboard.run_server(storage, host=host, port=port)


def serve_storage_proxy(*, handle: StorageHandle, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Block serving the storage to ``grpc://HOST:PORT`` workers until Ctrl-C."""
    check_port_free(host=host, port=port)
    serve_grpc_proxy(handle=handle, host=host, port=port, announce=announce)
