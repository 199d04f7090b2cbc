# Jupyter Server configuration of the compute-instance image (/etc/jupyter/jupyter_server_config.py).
# The applications served through Jupyter, under its token, come from the instance's environment:
#   CI_APPLICATIONS          comma-separated; "vscode" serves code-server at /vscode/ when the image has it
#   CI_CUSTOM_APPLICATIONS   JSON list of {name, port, command?}: each served at /<name>/; a command is
#                            started on the first request (as the instance user, with PORT set), an
#                            application without one is a process or sidecar already listening on port
import json
import os
import shutil

c = get_config()  # noqa: F821 (provided by Jupyter when it loads this file)

# The login cookie is not sent with other sites' form POSTs and scripts (see compute_instance_auth,
# whose provider has the same default; this covers the stock provider, used with JUPYTER_TOKEN).
c.IdentityProvider.cookie_options = {"samesite": "Lax"}

notebooks = os.environ.get("NOTEBOOK_DIR", os.path.expanduser("~"))
applications = os.environ.get("CI_APPLICATIONS", "").split(",")
servers = {}

if "vscode" in applications and shutil.which("code-server"):
    servers["vscode"] = {
        "command": ["code-server", "--auth=none", "--socket={unix_socket}", "--disable-workspace-trust", notebooks],
        "unix_socket": True,
        "timeout": 60,
        "new_browser_tab": True,
        "launcher_entry": {"title": "VS Code"},
    }

for app in json.loads(os.environ.get("CI_CUSTOM_APPLICATIONS") or "[]"):
    command = app.get("command")
    servers[app["name"]] = {
        # jupyter-server-proxy fills {port}-style fields in commands: a user's braces stay literal.
        "command": ["bash", "-c", command.replace("{", "{{").replace("}", "}}")] if command else [],
        "port": int(app["port"]),
        "environment": {"PORT": str(app["port"])},
        # The application sees paths without the /<name> prefix.
        "absolute_url": False,
        "timeout": 120,
        "new_browser_tab": True,
        "launcher_entry": {"title": app["name"]},
    }

c.ServerProxy.servers = servers
