"""Optuna's gRPC storage proxy in front of a real storage (``pairsearch storage-proxy``)."""

from __future__ import annotations

import warnings

import optuna

from pairsearch.errors import PairsearchError
from pairsearch.storage.handle import StorageHandle


def serve_grpc_proxy(*, handle: StorageHandle, host: str, port: int, announce) -> None:
    """Block serving ``handle``'s storage to gRPC clients (``grpc://host:port``) until Ctrl-C."""
    try:
        from optuna.storages import run_grpc_proxy_server
    except ImportError:
        raise PairsearchError("storage-proxy needs grpcio and protobuf: pip install 'pairsearch[grpc]'") from None
    if handle.kind.is_proxy:
        raise PairsearchError("storage-proxy needs the real storage behind it, not another grpc:// proxy")
    storage = handle.open()
    announce(f"gRPC storage proxy for {handle.redacted} on grpc://{host}:{port} (Ctrl-C stops)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        run_grpc_proxy_server(storage, host=host, port=port)
