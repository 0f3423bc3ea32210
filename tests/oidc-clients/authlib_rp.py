"""Relying party built on Python authlib, against `wxgate dev` (run by scripts/oidc-clients.sh).

Discovery, code flow with PKCE S256 + nonce + state, id_token checks (JWKS, iss, aud, nonce,
at_hash), userinfo, refresh rotation with reuse detection, RP-initiated logout. The person signs
in with the simulator's website QR login, driven over HTTP by a cookie-keeping session.
Exits non-zero, naming the step, on the first failure.
"""

import html
import re
import secrets
import sys
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.integrations.base_client import (
    BaseApp,
    FrameworkIntegration,
    OAuth2Mixin,
    OAuthError,
    OpenIDMixin,
)
from authlib.integrations.requests_client import OAuth2Session

GATEWAY = "http://127.0.0.1:8080"
ISSUER = f"{GATEWAY}/_auth"
CLIENT_ID = "demo-app"
CLIENT_SECRET = "demo-oidc-secret-0123456789"
CALLBACK = "http://127.0.0.1:8765/callback"
SIGNED_OUT = "http://127.0.0.1:8765/signed-out"
SCOPE = "openid profile phone offline_access"


class Plain(FrameworkIntegration):
    """No web framework here: tokens live in local variables, so there is nothing to store."""

    def update_token(self, token, refresh_token=None, access_token=None):
        pass


class RP(OAuth2Mixin, OpenIDMixin, BaseApp):
    """authlib's framework-neutral OIDC client, the one its Flask/Django integrations wrap."""

    client_cls = OAuth2Session


def check(ok, what):
    if not ok:
        raise AssertionError(what)


def hop(browser, url):
    """One browser request that must answer with a redirect; returns the absolute Location."""
    resp = browser.get(url, allow_redirects=False)
    check(resp.status_code in (302, 303), f"GET {url}: expected a redirect, got {resp.status_code}")
    return urljoin(url, resp.headers["Location"])


def sign_in(browser, authorize_url, signed_in):
    """Follows the authorization request as a browser would, signing alice in by the website QR
    login unless `signed_in`; returns the redirect to the RP's callback."""
    nxt = hop(browser, authorize_url)
    if signed_in:
        check(nxt.startswith(CALLBACK), f"a signed-in browser was sent to {nxt}")
        return nxt
    check(urlsplit(nxt).path == "/_auth/login", f"expected the login page, went to {nxt}")
    page = browser.get(nxt).text
    link = re.search(r'href="(/_auth/web/authorize\?[^"]+)"', page)
    check(link, "the login page has no website QR login link")
    qr = hop(browser, urljoin(nxt, html.unescape(link.group(1))))
    check(qr.startswith("http://127.0.0.1:9200/"), f"expected the simulator's QR page, got {qr}")
    # The simulated person scans and allows; the parameter must precede `#wechat_redirect`.
    base, _, _ = qr.partition("#")
    wx_callback = hop(browser, base + "&sim_user=alice")
    back = hop(browser, wx_callback)
    check(any(c.name.startswith("wxgate") for c in browser.cookies), "no wxgate session cookie")
    return hop(browser, back)


def expect_invalid_grant(session, token_endpoint, refresh_token, what):
    try:
        session.refresh_token(token_endpoint, refresh_token=refresh_token)
    except OAuthError as err:
        check(err.error == "invalid_grant", f"{what}: expected invalid_grant, got {err.error}")
        return
    raise AssertionError(f"{what}: the refresh token was accepted")


def login(rp, meta, browser, signed_in=False):
    """One authorization code flow; returns the token response and the validated id_token."""
    auth = rp.create_authorization_url(redirect_uri=CALLBACK)
    check("code_challenge_method=S256" in auth["url"] and auth["nonce"], "no PKCE S256 / nonce")
    callback = sign_in(browser, auth["url"], signed_in)
    # RFC 9207: authlib does not look at `iss` itself.
    check(parse_qs(urlsplit(callback).query).get("iss") == [meta["issuer"]], "iss param mismatch")
    # authlib checks `state` against the callback and sends the code_verifier.
    token = rp.fetch_access_token(
        redirect_uri=CALLBACK,
        authorization_response=callback,
        state=auth["state"],
        code_verifier=auth["code_verifier"],
    )
    # Signature from jwks_uri, exp/iat, iss, aud, nonce, and at_hash against the access token.
    options = {
        "iss": {"essential": True, "value": meta["issuer"]},
        "aud": {"essential": True, "value": CLIENT_ID},
    }
    claims = rp.parse_id_token(token, nonce=auth["nonce"], claims_options=options)
    check(claims.get("sub") and claims.get("at_hash"), "id_token lacks sub or at_hash")
    check(claims["nonce"] == auth["nonce"], "nonce mismatch")
    # Proof that at_hash is really compared: the same id_token with another access token fails.
    forged = dict(token, access_token=token["access_token"] + "x")
    try:
        rp.parse_id_token(forged, nonce=auth["nonce"], claims_options=options)
    except Exception as err:  # joserfc's InvalidClaimError
        check("at_hash" in str(err), f"expected an at_hash error, got {err!r}")
    else:
        raise AssertionError("at_hash was not checked")
    return token, claims


def main():
    rp = RP(
        Plain("wxgate"),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,  # client_secret_basic: authlib's default
        server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
    )
    meta = rp.load_server_metadata()
    check(meta["issuer"] == ISSUER, f"issuer {meta['issuer']}")
    browser = requests.Session()

    token, claims = login(rp, meta, browser)
    info = rp.userinfo(token=token)
    check(info["sub"] == claims["sub"], "userinfo sub differs from the id_token's")
    check(info.get("name") and info.get("phone_number"), f"userinfo lacks name/phone: {info}")

    # Rotation, this once with client_secret_post.
    post = OAuth2Session(CLIENT_ID, CLIENT_SECRET, token_endpoint_auth_method="client_secret_post")
    endpoint = meta["token_endpoint"]
    old = token["refresh_token"]
    new = post.refresh_token(endpoint, refresh_token=old)["refresh_token"]
    check(new and new != old, "refresh did not rotate the refresh token")
    # The gateway forgives a retry of `old` for 20 s while `new` is unused (a lost response),
    # answering with the same `new`; once `new` has been used, `old` again is reuse.
    basic = OAuth2Session(CLIENT_ID, CLIENT_SECRET)
    again = basic.refresh_token(endpoint, refresh_token=old)["refresh_token"]
    check(again == new, "a retry within the grace window did not get the same child")
    newer = basic.refresh_token(endpoint, refresh_token=new)["refresh_token"]
    check(newer not in (old, new), "second refresh did not rotate")
    expect_invalid_grant(basic, endpoint, old, "reused refresh token")
    expect_invalid_grant(basic, endpoint, newer, "refresh token of a revoked family")

    # A second authorization rides on the browser session: no QR this time.
    token, claims = login(rp, meta, browser, signed_in=True)
    state = secrets.token_urlsafe(16)
    url = rp.create_logout_url(
        post_logout_redirect_uri=SIGNED_OUT, id_token_hint=token["id_token"], state=state
    )["url"]
    cookies = browser.cookies.copy()  # to show the session itself ended, not just its cookies
    back = hop(browser, url)
    check(back.startswith(SIGNED_OUT), f"logout went to {back}")
    check(parse_qs(urlsplit(back).query).get("state") == [state], "logout lost the state")
    left = [c.name for c in browser.cookies if c.name.startswith("wxgate")]
    check(not left, f"logout left cookies: {left}")
    me = browser.get(f"{ISSUER}/me")
    check(me.status_code == 401, f"/_auth/me after logout: {me.status_code}")
    me = requests.get(f"{ISSUER}/me", cookies=cookies)
    check(me.status_code == 401, f"/_auth/me with the pre-logout cookies: {me.status_code}")
    expect_invalid_grant(basic, endpoint, token["refresh_token"], "after logout")
    print(f"authlib: ok (sub {claims['sub']}; refresh reuse and logout refused)")


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # one line naming what failed, then non-zero
        print(f"authlib: FAILED: {type(err).__name__}: {err}", file=sys.stderr)
        sys.exit(1)
