"""Jupyter server extension of the compute-instance image: the proxy in front of applications.

VS Code and custom applications are served by jupyter-server-proxy under Jupyter's origin and
login. By itself the proxy
- forwards every request header, cookie and query parameter: the application (an image beside
  the instance, on a Shared instance the whole workspace's token) learnt Jupyter's token and
  login cookie, from the caller and from the provider's readiness probe alike;
- skips Jupyter's XSRF check (the applications' own pages cannot send Jupyter's XSRF token), so
  a form on any other page could POST to an application as the user;
- counts every proxied request as use of the instance, wherever the request came from.

This extension changes all proxy routes (named applications and /proxy/<port>/, HTTP and
WebSocket) in one place, the proxy's base handler:
- what is Jupyter's credential is not forwarded: an Authorization of the schemes Jupyter reads
  (token, bearer), Jupyter's login cookies, the `token` query parameter, and any header, cookie or
  parameter holding the token (a Referer after a ?token= login). The rest goes through: code-server
  (run with --auth none) needs no cookie of Jupyter's, and an application's own cookies and Basic
  authentication are its own. Jupyter's `_xsrf` cookie goes through: it authenticates nothing, and
  tornado-style applications use a cookie of that name themselves;
- requests with unsafe methods (all but GET, HEAD, OPTIONS) from another origin are refused, unless
  they carry the token (a script that has the token needs no forgery). Another port of the same
  host is another origin: the browser's SameSite rules do not tell it apart, this check does;
- a request from another origin is not use of the instance.

The functions above the handler code are pure (no Jupyter, no tornado): the rules themselves.
"""
from urllib.parse import unquote_plus, urlparse

# --- the rules ---------------------------------------------------------------------------------

# Jupyter's login cookie is "username-<host>-<port>" (jupyter_server's IdentityProvider). Browsers
# do not keep cookies apart by port: every Jupyter server of this host (other instances too)
# sends its cookie with every request to this one.
JUPYTER_LOGIN_COOKIE_PREFIX = "username-"
JUPYTER_AUTH_SCHEMES = ("token", "bearer")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _holds(value, token):
    return bool(token) and token in value


def forwarded_cookie(value, token):
    """A Cookie header's value without Jupyter's login cookies and anything holding the token."""
    kept = []
    for part in value.split(";"):
        name = part.split("=", 1)[0].strip()
        if not name or name.startswith(JUPYTER_LOGIN_COOKIE_PREFIX) or _holds(part, token):
            continue
        kept.append(part.strip())
    return "; ".join(kept)


def forwarded_headers(headers, token):
    """The (name, value) pairs of a request that an application may see."""
    out = []
    for name, value in headers:
        lower = name.lower()
        if lower == "authorization" and value.split(" ", 1)[0].lower() in JUPYTER_AUTH_SCHEMES:
            continue
        if lower == "cookie":
            value = forwarded_cookie(value, token)
            if not value:
                continue
        if _holds(value, token):
            continue
        out.append((name, value))
    return out


def forwarded_query(query, token):
    """A raw query string without `token` parameters and values holding the token. The other
    parameters keep their exact encoding (an application may read them raw)."""
    kept = []
    for part in query.split("&"):
        name = unquote_plus(part.split("=", 1)[0])
        if not part or name == "token" or _holds(unquote_plus(part), token):
            continue
        kept.append(part)
    return "&".join(kept)


def _header(headers, name):
    value = headers.get(name)
    return value.strip().lower() if value else ""


def is_cross_origin(headers, host):
    """Whether a browser sent this request from a page of another origin. Sec-Fetch-Site says so
    for every request of current browsers; where it is missing, an Origin header of another host
    (browsers send one with every unsafe method). A request with neither is a script's."""
    site = _header(headers, "Sec-Fetch-Site")
    if site in ("cross-site", "same-site"):
        return True
    if site in ("same-origin", "none"):
        return False
    origin = _header(headers, "Origin")
    # "null" (a sandboxed frame, a file, a redirect across sites) has no host: another origin.
    return bool(origin) and urlparse(origin).netloc != (host or "").lower()


def is_user_navigation(headers):
    """Whether the browser says the user, or a page of this origin, asked for this: a typed or
    bookmarked URL, a link opened from another program (Sec-Fetch-Site: none), or a page of
    this server. Never true without Sec-Fetch-Site: absent, there is no telling."""
    return _header(headers, "Sec-Fetch-Site") in ("none", "same-origin")


# --- the proxy's base handler -------------------------------------------------------------------

PATCHED = ("proxy_request_headers", "get_client_uri", "check_xsrf_cookie", "_record_activity")


def _token(handler):
    return getattr(handler.identity_provider, "token", None) or ""


def install():
    """Changes jupyter-server-proxy's base handler (every proxy route derives from it). When the
    installed proxy lacks a method changed here, every proxied request is refused instead: an
    application unreachable is better than an application handed the token."""
    from tornado import httputil, web
    from jupyter_server_proxy.handlers import ProxyHandler

    missing = [m for m in PATCHED if not callable(getattr(ProxyHandler, m, None))]
    if missing:
        def refuse(self, *args, **kwargs):
            raise web.HTTPError(503, "the compute-instance image could not secure this proxy")
        ProxyHandler.prepare = refuse
        raise RuntimeError(f"jupyter-server-proxy has no {', '.join(missing)}: proxied applications are refused")
    if getattr(ProxyHandler, "_compute_instance", False):
        return
    original = {m: getattr(ProxyHandler, m) for m in PATCHED}

    def proxy_request_headers(self):
        return httputil.HTTPHeaders(forwarded_headers(original["proxy_request_headers"](self).get_all(), _token(self)))

    def get_client_uri(self, protocol, host, port, proxied_path):
        uri = original["get_client_uri"](self, protocol, host, port, proxied_path)
        query = self.request.query
        if not query or not uri.endswith("?" + query):
            return uri
        kept = forwarded_query(query, _token(self))
        return uri[: -len(query) - 1] + ("?" + kept if kept else "")

    def check_xsrf_cookie(self):
        # Jupyter's prepare() calls this for every method but GET, HEAD and OPTIONS, once the
        # user is known (tornado calls it earlier too: then it waits, as Jupyter's own does); the
        # proxy's own version checks nothing.
        if not hasattr(self, "_jupyter_current_user") or self.token_authenticated:
            return
        if is_cross_origin(self.request.headers, self.request.host):
            raise web.HTTPError(403, "refused: a request from another site's page")

    def record_activity(self):
        if not is_cross_origin(self.request.headers, self.request.host):
            original["_record_activity"](self)

    ProxyHandler.proxy_request_headers = proxy_request_headers
    ProxyHandler.get_client_uri = get_client_uri
    ProxyHandler.check_xsrf_cookie = check_xsrf_cookie
    ProxyHandler._record_activity = record_activity
    ProxyHandler._compute_instance = True


# The proxy's own key in Jupyter's activity times: when an application was last used.
PROXY_ACTIVITY_KEY = "jupyter-server-proxy"


def applications_last_activity(settings):
    """When an application behind the proxy was last used (a datetime), or None."""
    return (settings.get("last_activity_times") or {}).get(PROXY_ACTIVITY_KEY)


def _jupyter_server_extension_points():
    return [{"module": "compute_instance_proxy"}]


def _load_jupyter_server_extension(serverapp):
    install()
