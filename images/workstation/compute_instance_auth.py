"""Jupyter identity provider of the compute-instance image: the token comes from a file.

The provider writes the instance's token to a root-owned file (Docker) or mounts it from the
instance's Secret (Kubernetes). Jupyter would read a token once, at start; this provider reads
the file again whenever it changes, so a rotated token, or a change of sharing policy, applies
without a restart: the old token stops working at once, and so do login cookies issued for it.

Its login cookie is SameSite=Lax: another site's page cannot make the browser send it with a
form POST or a request from a script, frame or image (only with a link the user follows).
"""
import hashlib
import os

from jupyter_server.auth.identity import PasswordIdentityProvider
from traitlets import Unicode, default

DEFAULT_TOKEN_FILE = "/etc/compute-instance/auth/token"


def _fingerprint(token):
    return hashlib.sha256(("compute-instance:" + token).encode()).hexdigest()[:32]


class TokenFileIdentityProvider(PasswordIdentityProvider):
    token_file = Unicode(
        os.environ.get("CI_TOKEN_FILE", DEFAULT_TOKEN_FILE),
        config=True,
        help="File holding the access token; re-read when it changes.",
    )

    _seen = None

    # Without SameSite, browsers send the cookie with another site's form POSTs (Firefox, and
    # Chromium within two minutes of the login), and jupyter-server-proxy's applications do not
    # check Jupyter's XSRF token. Lax, not Strict: a link to the instance from another site (a
    # chat, a CI page) still opens it logged in; what such a GET does is checked where it
    # matters (a new terminal). A configured cookie_options replaces this default.
    @default("cookie_options")
    def _default_cookie_options(self):
        return {"samesite": "Lax"}

    def _refresh(self):
        try:
            st = os.stat(self.token_file)
        except OSError:
            # Gone for a moment (a Secret's files are swapped by symlink): keep the last token,
            # never fall back to no token at all.
            return
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key == self._seen:
            return
        try:
            with open(self.token_file) as f:
                token = f.read().strip()
        except OSError:
            return
        if token:
            if self._seen is not None and token != self.token:
                self.log.info("compute-instance: the access token changed; the previous one no longer works")
            self.token = token
            self._seen = key

    def get_user(self, handler):
        self._refresh()
        return super().get_user(handler)

    def process_login_form(self, handler):
        self._refresh()
        return super().process_login_form(handler)

    # A login cookie carries the fingerprint of the token it was issued for: a new token ends the
    # sessions opened with the old one (the cookie secret alone would keep them alive).
    def user_to_cookie(self, user):
        return _fingerprint(self.token) + ":" + super().user_to_cookie(user)

    def user_from_cookie(self, cookie_value):
        self._refresh()
        fingerprint, sep, rest = cookie_value.partition(":")
        if not sep or fingerprint != _fingerprint(self.token):
            return None
        return super().user_from_cookie(rest)
