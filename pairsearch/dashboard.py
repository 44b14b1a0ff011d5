"""Serving a storage: optuna-dashboard (``pairsearch dashboard``) and Optuna's gRPC proxy.

Both bind 127.0.0.1 unless told otherwise, and a port in use is one clear line.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from pairsearch.errors import PairsearchError
from pairsearch.storage.handle import StorageHandle
from pairsearch.storage.proxy import serve_grpc_proxy


def check_port_free(*, host: str, port: int) -> None:
    """Refuse a port something already listens on, before starting a server."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PairsearchError(f"cannot serve on {host}:{port}: {error.strerror}; choose another --port") from None


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
