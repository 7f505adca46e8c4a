"""The web console (issue 19): server-rendered pages on the HTTP side port.

Pages and actions call the domain layer with the viewer's `Caller`, the way
the gRPC servicer does, so every page is authorised exactly as the matching
RPC would be; nothing here issues SQL. See docs/console.md.
"""

from registry_server.console.app import console_app, console_routes
from registry_server.console.services import ConsoleServices

__all__ = ["ConsoleServices", "console_app", "console_routes"]
