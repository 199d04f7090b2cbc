"""Jupyter server extension of the compute-instance image.

Serves /api/compute-instance/connections: how many SSH connections (VS Code Remote-SSH
included) are open to the instance's sshd, read from the kernel's socket table (no privileges
needed), and whether VS Code in the browser is open (code-server's heartbeat file), so the
workspace agent's idle rule counts them. Authenticated like every API call.

Also serves /compute-instance/new-terminal, the instance's terminal endpoint: a new terminal,
opened on the notebook's terminal page (JupyterLab has no URL that opens one).
"""
import os
import time

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

SSH_PORT = 2222
ESTABLISHED = "01"


def established_connections(port=SSH_PORT):
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == ESTABLISHED and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        count += 1
        except OSError:
            pass
    return count


# code-server touches this file about once a minute while a browser has VS Code open.
VSCODE_HEARTBEAT = os.path.expanduser("~/.local/share/code-server/heartbeat")
EDITOR_FRESH_SECONDS = 150


def open_editors(heartbeat=VSCODE_HEARTBEAT, now=None):
    try:
        age = (now if now is not None else time.time()) - os.stat(heartbeat).st_mtime
    except OSError:
        return 0
    return 1 if age < EDITOR_FRESH_SECONDS else 0


class NewTerminalHandler(JupyterHandler):
    """The instance's terminal endpoint: a new terminal, on the notebook's terminal page (JupyterLab
    has no URL that opens a terminal)."""

    @web.authenticated
    def get(self):
        manager = self.settings.get("terminal_manager")
        if manager is None:
            raise web.HTTPError(404, "this instance has no terminal (list \"terminal\" in its applications)")
        name = manager.create()["name"]
        self.redirect(url_path_join(self.base_url, "terminals", name))


class ConnectionsHandler(APIHandler):
    @web.authenticated
    def get(self):
        self.finish({"ssh": established_connections(), "editors": open_editors()})


def _jupyter_server_extension_points():
    return [{"module": "compute_instance_activity"}]


def _load_jupyter_server_extension(serverapp):
    app = serverapp.web_app
    base = app.settings["base_url"]
    app.add_handlers(".*$", [
        (url_path_join(base, "/api/compute-instance/connections"), ConnectionsHandler),
        (url_path_join(base, "/compute-instance/new-terminal"), NewTerminalHandler),
    ])
