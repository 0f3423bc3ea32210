//! wxgate as an OpenID Connect provider, end to end: a relying party written here (discovery,
//! JWKS, PKCE, the token endpoint by hand) against the gateway binary and the simulator's QR
//! login. The two third-party libraries run in `scripts/oidc-clients.sh`.

mod flows;
mod logout;
mod rules;

use crate::login::browser::{as_person, secret, simulator, WEB};
use aws_lc_rs::digest;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;
use wxgate_tests::gateway::{Channel, GatewayBuilder, OidcClient, Route, TestGateway};
use wxgate_tests::web::{Browser, Page};
use wxgate_tests::{Backend, TestDb};

/// The confidential client's secret: characters Basic credentials must URL-encode.
pub(crate) const APP_SECRET: &str = "s3cr3t:with%special+chars&=/?~";
pub(crate) const PAIRWISE_SECRET: &str = "pairwise-secret-0123456789";

/// A gateway with the QR channel, a protected route and three clients: `app` (confidential,
/// every scope), `spa` (public, PKCE) and `pw` (confidential, pairwise subjects). Their
/// redirect URI is the echo upstream's `/cb`, which a browser can land on.
pub(crate) struct World {
    pub(crate) gw: TestGateway,
    pub(crate) builder: GatewayBuilder,
    pub(crate) http: reqwest::Client,
    _db: TestDb,
    pub(crate) redirect_uri: String,
    pub(crate) bye_uri: String,
    _sim: wxgate_sim::SimHandle,
    _upstream: wxgate_sim::SimHandle,
}

pub(crate) async fn world_on(backend: Backend) -> Option<World> {
    world_with(backend, |b| b).await
}

/// As [`world_on`], with `shape` adding to the gateway's config.
pub(crate) async fn world_with(
    backend: Backend,
    shape: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
) -> Option<World> {
    let db = TestDb::new(backend).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sim = simulator(&http).await;
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let redirect_uri = format!("http://{}/cb", upstream.addr);
    let bye_uri = format!("http://{}/bye", upstream.addr);
    let builder = TestGateway::builder(&db.url, &db.dir)
        .channel(Channel::open_qr("web", WEB, secret(WEB), &sim.base_url()))
        .route(Route::required("/api/", upstream.addr))
        .oidc("")
        .oidc_client(
            OidcClient::confidential("app", APP_SECRET, &redirect_uri)
                .with(&format!("post_logout_redirect_uris = [\"{bye_uri}\"]"))
                .with("scopes = [\"openid\", \"profile\", \"phone\", \"wechat\"]"),
        )
        .oidc_client(OidcClient::public("spa", &redirect_uri))
        .oidc_client(
            OidcClient::confidential("pw", PAIRWISE_SECRET, &redirect_uri)
                .with("subject = \"pairwise\""),
        );
    let builder = shape(builder);
    let gw = tokio::task::block_in_place(|| builder.start());
    Some(World {
        gw,
        builder,
        http,
        _db: db,
        redirect_uri,
        bye_uri,
        _sim: sim,
        _upstream: upstream,
    })
}

pub(crate) async fn world() -> World {
    world_on(Backend::Sqlite).await.expect("sqlite")
}

/// One authorization request's secrets, kept by the client.
pub(crate) struct Request {
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) verifier: String,
}

pub(crate) fn random() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

pub(crate) fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The URL-encoded form of Basic credentials (RFC 6749 §2.3.1).
pub(crate) fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// A query parameter of `url`.
pub(crate) fn param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl World {
    pub(crate) fn gw(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.addr)
    }

    /// An authorization URL for `client` with PKCE, state and nonce, and `extra` parameters.
    pub(crate) fn authorize_url(
        &self,
        client: &str,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> (String, Request) {
        let r = Request {
            state: random(),
            nonce: random(),
            verifier: random(),
        };
        let mut url = format!(
            "{}?response_type=code&client_id={client}&redirect_uri={}&scope={}&state={}&nonce={}&code_challenge={}&code_challenge_method=S256",
            self.gw("/_auth/oidc/authorize"),
            enc(&self.redirect_uri),
            enc(scope),
            r.state,
            r.nonce,
            s256(&r.verifier)
        );
        for (k, v) in extra {
            url.push_str(&format!("&{k}={}", enc(v)));
        }
        (url, r)
    }

    /// Opens `authorize` in `b`; when the login page shows, signs `user` in by QR. Returns the
    /// client's redirect (with `code` or `error`) and the trail.
    pub(crate) async fn through_login(
        &self,
        b: &mut Browser,
        authorize: &str,
        user: &str,
    ) -> (String, Vec<String>) {
        let (page, trail) = b.open(authorize).await;
        if let Some(done) = trail.iter().find(|u| u.starts_with(&self.redirect_uri)) {
            return (done.clone(), trail);
        }
        let at_login = trail.last().cloned().unwrap_or_default();
        assert!(
            at_login.contains("/_auth/login?return_to="),
            "{page:?} {trail:?}"
        );
        let return_to = param(&at_login, "return_to").unwrap();
        let start = b
            .get(&self.gw(&format!(
                "/_auth/web/authorize?return_to={}",
                enc(&return_to)
            )))
            .await;
        assert_eq!(start.status, 302, "{}", start.body);
        let (_, more) = b.open(&as_person(start.location().unwrap(), user)).await;
        let done = more
            .iter()
            .find(|u| u.starts_with(&self.redirect_uri))
            .unwrap_or_else(|| panic!("never back at the client: {more:?}"))
            .clone();
        let mut all = trail;
        all.extend(more);
        (done, all)
    }

    /// A code for `user` at `client` (signing in on the way when needed).
    pub(crate) async fn code(
        &self,
        b: &mut Browser,
        client: &str,
        scope: &str,
        user: &str,
    ) -> (String, Request) {
        let (url, r) = self.authorize_url(client, scope, &[]);
        let (back, _) = self.through_login(b, &url, user).await;
        assert_eq!(
            param(&back, "state").as_deref(),
            Some(r.state.as_str()),
            "{back}"
        );
        let code = param(&back, "code").unwrap_or_else(|| panic!("no code: {back}"));
        (code, r)
    }

    /// POSTs a form to the token endpoint with an `Authorization` header when given.
    pub(crate) async fn token(
        &self,
        form: &[(&str, &str)],
        authorization: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.post(self.gw("/_auth/oidc/token")).form(form);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    /// Redeems `code` as the confidential `app` (Basic, URL-encoded).
    pub(crate) async fn redeem(&self, code: &str, r: &Request) -> (u16, Value) {
        let (status, body, _) = self
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &self.redirect_uri),
                    ("code_verifier", &r.verifier),
                ],
                Some(&basic("app", APP_SECRET)),
            )
            .await;
        (status, body)
    }

    /// Refreshes as `app`.
    pub(crate) async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        let (status, body, _) = self
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                ],
                Some(&basic("app", APP_SECRET)),
            )
            .await;
        (status, body)
    }

    pub(crate) async fn userinfo(&self, access_token: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.gw("/_auth/oidc/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Verifies an id_token as a client does: discovery, the JWKS key named by `kid`, RS256,
    /// `iss` byte-identical to discovery's, `aud`.
    pub(crate) async fn verify_id_token(&self, token: &str, client: &str) -> Value {
        let discovery: Value = self
            .http
            .get(self.gw("/_auth/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jwks: Value = self
            .http
            .get(discovery["jwks_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        let kid = header.kid.expect("a kid");
        let key = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .expect("the kid is published");
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
            key["n"].as_str().unwrap(),
            key["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_issuer(&[discovery["issuer"].as_str().unwrap()]);
        validation.set_audience(&[client]);
        jsonwebtoken::decode::<Value>(token, &decoding, &validation)
            .unwrap_or_else(|e| panic!("id_token refused: {e}"))
            .claims
    }

    /// The user the browser is signed in as, by `/_auth/me`.
    pub(crate) async fn me(&self, b: &mut Browser) -> Page {
        b.request(&self.gw("/_auth/me"), &[("accept", "application/json")])
            .await
    }
}

/// A token answer without its headers.
pub(crate) trait IntoPair {
    fn into_pair(self) -> (u16, Value);
}

impl IntoPair for (u16, Value, reqwest::header::HeaderMap) {
    fn into_pair(self) -> (u16, Value) {
        (self.0, self.1)
    }
}

/// `at_hash` computed here, independently of the gateway.
pub(crate) fn at_hash(access_token: &str) -> String {
    let d = digest::digest(&digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d.as_ref()[..16])
}
