"""Optuna's gRPC storage proxy as a storage (``grpc://HOST:PORT``; see ``pairsearch storage-proxy``)."""

from __future__ import annotations

import warnings

import optuna

from pairsearch.errors import PairsearchError

GRPC_PREFIX = "grpc://"
READY_TIMEOUT_SECONDS = 10


def grpc_address(handle) -> tuple[str, int]:
    """``(host, port)`` of a ``grpc://HOST:PORT`` URL."""
    host, _, port = handle.url.removeprefix(GRPC_PREFIX).rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise PairsearchError(f"grpc storage URL must look like grpc://HOST:PORT, got {handle.redacted!r}")
    return host, int(port)


def open_storage(handle, *, schema_ready: bool = False) -> optuna.storages.BaseStorage:
    """A client of the proxy, once the proxy answers."""
    host, port = grpc_address(handle)
    try:
        from optuna.storages import GrpcStorageProxy
    except ImportError:
        raise PairsearchError("grpc storage needs grpcio and protobuf: pip install 'pairsearch[grpc]'") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        proxy = GrpcStorageProxy(host=host, port=port)
    proxy.wait_server_ready(timeout=READY_TIMEOUT_SECONDS)
    return proxy
