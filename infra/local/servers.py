"""Listening sockets and server threads of the local stack, all on 127.0.0.1.

The stack binds every port before it starts any server, so a port in use stops it at
once with a message naming the environment variable that moves that port.
"""

import errno
import logging
import socket
import threading
from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.local import create_local_server
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from infra.local.config import HOST, PortSetting

logger = logging.getLogger(__name__)

# Seconds to wait for a server thread to finish after shutdown.
STOP_TIMEOUT_SECONDS = 10


class PortUnavailableError(RuntimeError):
    """A port of the stack cannot be bound."""


def bind(setting: PortSetting, port: int) -> socket.socket:
    """Return a listening TCP socket on 127.0.0.1; raises PortUnavailableError."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Lets a restarted stack bind at once while old connections sit in TIME_WAIT;
    # on Linux and macOS it does not allow two listeners on one port.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, port))
        listener.listen(128)
    except OSError as error:
        listener.close()
        raise unavailable(setting, port, error) from error
    return listener


def unavailable(setting: PortSetting, port: int, error: OSError) -> PortUnavailableError:
    """Describe a failed bind with the environment variable that moves the port."""
    if error.errno == errno.EADDRINUSE:
        reason = "is already in use"
    else:
        reason = f"cannot be bound ({error.strerror or error})"
    return PortUnavailableError(
        f"{setting.label} port {HOST}:{port} {reason}; stop the program using it "
        f"or set {setting.variable} to a free port"
    )


class _QuietHandler(WSGIRequestHandler):
    """Request handler that leaves the console to the stack's own lines."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def wsgi_server(listener: socket.socket, app: Any) -> BaseWSGIServer:
    """Serve a WSGI app with one thread per request on an already bound socket."""
    host, port = listener.getsockname()[:2]
    server = make_server(
        host, port, app, threaded=True, request_handler=_QuietHandler, fd=listener.fileno()
    )
    # werkzeug duplicated the descriptor, so the original can go.
    listener.close()
    return server


def chalice_server(app: Chalice, config: Config, setting: PortSetting, port: int) -> Any:
    """Bind the Chalice app's HTTP server as `chalice local` does; raises PortUnavailableError."""
    try:
        return create_local_server(app, config, HOST, port).server
    except OSError as error:
        raise unavailable(setting, port, error) from error


class ServerThread:
    """A server's `serve_forever` on a daemon thread, and a clean stop that frees its port."""

    def __init__(self, name: str, server: Any) -> None:
        self.name = name
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(STOP_TIMEOUT_SECONDS)
            if self.thread.is_alive():
                logger.warning(
                    "%s server did not stop within %d s", self.name, STOP_TIMEOUT_SECONDS
                )
        self.server.server_close()


class SerializedApp:
    """WSGI wrapper that lets one request at a time into the wrapped app.

    moto 5.2.1's TransactWriteItems deep-copies a table and restores the copy on
    failure without a lock, so concurrent requests corrupt the local table.
    DynamoDB applies each request atomically; one lock restores that here.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> list[bytes]:
        with self._lock:
            result = self._app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
