"""``pairsearch dashboard``: optuna-dashboard on the study storage, with a clear port error."""

from __future__ import annotations

import socket
import sys

from pairsearch.errors import PairsearchError
from pairsearch.storage import open_storage, redact


def check_port_free(*, host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PairsearchError(f"cannot serve on {host}:{port}: {error.strerror}; choose another --port") from None


def serve(*, url: str, host: str, port: int) -> None:
    """Block serving the dashboard until Ctrl-C."""
    import optuna_dashboard

    storage = open_storage(url=url, must_exist=True)
    check_port_free(host=host, port=port)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"optuna-dashboard for {redact(url)} at http://{shown_host}:{port}/ (Ctrl-C stops)", flush=True)
    sys.stdout.flush()
    optuna_dashboard.run_server(storage, host=host, port=port)
