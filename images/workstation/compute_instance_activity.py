"""Jupyter server extension of the compute-instance image.

Serves /api/compute-instance/connections, what the workspace agent's idle rule counts besides
kernels and terminals: how many authenticated SSH sessions (VS Code Remote-SSH included) the
instance's sshd holds, whether VS Code in the browser is open (code-server's heartbeat file), and
when an application behind the proxy was last used. Authenticated like every API call.

Also serves /compute-instance/new-terminal, the instance's terminal endpoint: a new terminal,
opened on the notebook's terminal page (JupyterLab has no URL that opens one). A new terminal is
made only when the user asked for it, never for another site's page (see NewTerminalHandler).
"""
import os
import re
import time
from datetime import timezone

from compute_instance_proxy import applications_last_activity, is_cross_origin, is_user_navigation
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

# sshd names its processes: "sshd: [accepted]" and "sshd: azureuser [priv]" / "[net]" while a
# client has not authenticated (anyone who can reach the port can hold those open), then
# "sshd: azureuser" (port forwarding only: VS Code Remote-SSH) or "sshd: azureuser@pts/0,notty"
# (its sessions), one process per authenticated connection. Read from /proc (sshd runs as the
# instance user; its titles are readable without privileges).
AUTHENTICATED_SSHD = re.compile(r"^sshd: [^\s\[\]@]+(@\S+)?$")


def authenticated_ssh_sessions(proc="/proc"):
    count = 0
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            with open(os.path.join(proc, pid, "comm")) as f:
                if f.read().strip() != "sshd":
                    continue
            with open(os.path.join(proc, pid, "cmdline"), "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if AUTHENTICATED_SSHD.match(title):
            count += 1
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


# Shown when the request for a terminal may come from another site's page (a link or a script
# there): the user confirms with a form that carries Jupyter's XSRF token, which another site
# cannot read, in a page another site cannot frame (Jupyter's frame-ancestors 'self').
CONFIRM_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>New terminal</title></head>
<body style="font-family: sans-serif; margin: 3em">
<form method="post">%s<button type="submit" autofocus>Open a new terminal</button></form>
<p>A terminal is opened only on your confirmation when the request may come from another page.</p>
</body></html>
"""


class NewTerminalHandler(JupyterHandler):
    """The instance's terminal endpoint: a new terminal, on the notebook's terminal page (JupyterLab
    has no URL that opens a terminal).

    A GET makes one only when the user asked: the browser says the URL was typed, bookmarked or
    opened from another program, or followed from a page of this server (Sec-Fetch-Site), or the
    request carries the token. Otherwise (another site's link, script or form, whose requests
    carry the login cookie on a top-level navigation) it answers a page that asks, whose form
    POSTs here."""

    def _manager(self):
        manager = self.settings.get("terminal_manager")
        if manager is None:
            raise web.HTTPError(404, "this instance has no terminal (list \"terminal\" in its applications)")
        return manager

    def _open(self, status=302):
        name = self._manager().create()["name"]
        self.redirect(url_path_join(self.base_url, "terminals", name), status=status)

    @web.authenticated
    def get(self):
        self._manager()
        if self.token_authenticated or is_user_navigation(self.request.headers):
            return self._open()
        self.finish(CONFIRM_PAGE % self.xsrf_form_html())

    @web.authenticated
    def post(self):
        # Jupyter checked the form's XSRF token before this runs; another port of this host
        # (another instance, an application there) is another origin, which that does not see.
        if not self.token_authenticated and is_cross_origin(self.request.headers, self.request.host):
            raise web.HTTPError(403, "refused: a request from another site's page")
        self._open(status=303)


def _utc_iso(when):
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if when else None


class ConnectionsHandler(APIHandler):
    @web.authenticated
    def get(self):
        self.finish({
            "ssh": authenticated_ssh_sessions(),
            "editors": open_editors(),
            "applications_last_activity": _utc_iso(applications_last_activity(self.settings)),
        })


def _jupyter_server_extension_points():
    return [{"module": "compute_instance_activity"}]


def _load_jupyter_server_extension(serverapp):
    app = serverapp.web_app
    base = app.settings["base_url"]
    app.add_handlers(".*$", [
        (url_path_join(base, "/api/compute-instance/connections"), ConnectionsHandler),
        (url_path_join(base, "/compute-instance/new-terminal"), NewTerminalHandler),
    ])
