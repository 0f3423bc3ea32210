//! The login, refresh, logout and "me" operations the gateway exposes, composed from the
//! resolver, the sessions store and the token service.

use crate::error::{CoreError, CoreResult};
use crate::identity::accounts::Accounts;
use crate::identity::{LoginAttempt, Outcome, Resolver};
use crate::model::{Binding, User, UserId};
use crate::secret::Secret;
use crate::store::Db;
use crate::token::{AccessClaims, Rotation, SessionRecord, Sessions, TokenService};
use std::sync::Arc;

/// The contract's login response, before it is serialised.
#[derive(Debug)]
pub struct LoginGrant {
    pub access_token: Secret,
    pub expires_in: u64,
    pub refresh_token: Secret,
    pub claims: AccessClaims,
    pub user: User,
    pub is_new: bool,
    /// Sessions a merge revoked during this login.
    pub revoked_sessions: Vec<String>,
}

#[derive(Clone)]
pub struct AuthService {
    db: Db,
    resolver: Resolver,
    sessions: Sessions,
    tokens: Arc<TokenService>,
    accounts: Accounts,
}

impl AuthService {
    /// The sessions get the refresh grace window, sealed under `tokens`' vault keys.
    pub fn new(db: Db, resolver: Resolver, sessions: Sessions, tokens: Arc<TokenService>) -> Self {
        Self {
            accounts: Accounts::new(db.clone(), resolver.clock().clone()),
            db,
            resolver,
            sessions: sessions.with_grace(tokens.clone()),
            tokens,
        }
    }

    pub fn tokens(&self) -> &Arc<TokenService> {
        &self.tokens
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Unbind, merge and delete: account changes that are not logins.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Resolves the attempt to a user and starts a fresh session (never reusing one from before
    /// the login: no session fixation).
    pub async fn login(&self, attempt: &LoginAttempt) -> CoreResult<LoginGrant> {
        let outcome = self.resolver.resolve(attempt).await?;
        self.start_session(outcome, attempt).await
    }

    /// Starts a fresh session for a login resolved earlier (a ticket confirmed by one request
    /// and picked up by another): `user` as the resolution found it, the session proving what
    /// `attempt` proved.
    pub async fn session_for(
        &self,
        user: &UserId,
        attempt: &LoginAttempt,
    ) -> CoreResult<LoginGrant> {
        let user = self.user(user).await?.ok_or(CoreError::UserNotFound)?;
        let outcome = Outcome {
            user,
            is_new: false,
            changes: Vec::new(),
            revoked_sessions: Vec::new(),
        };
        self.start_session(outcome, attempt).await
    }

    async fn start_session(
        &self,
        mut outcome: Outcome,
        attempt: &LoginAttempt,
    ) -> CoreResult<LoginGrant> {
        // What the session was started by proving: the WeChat identity, else the phone (an
        // SMS login), so that unbinding either ends it.
        let (appid, openid, phone) = match &attempt.wechat {
            Some(w) => (Some(w.appid.as_str()), Some(w.openid.as_str()), None),
            None => (
                None,
                None,
                attempt.verified_phone.as_ref().map(|p| p.as_str()),
            ),
        };
        let grant = self
            .sessions
            .create(&outcome.user.id, &attempt.channel, appid, openid, phone)
            .await?;
        if grant.session.user_id != outcome.user.id {
            // Merged away between the resolution and the session: speak for the survivor.
            outcome.user = self
                .user(&grant.session.user_id)
                .await?
                .ok_or(CoreError::UserNotFound)?;
            outcome.is_new = false;
        }
        self.grant(outcome, &grant.session, openid, grant.refresh_token)
    }

    fn grant(
        &self,
        outcome: Outcome,
        session: &SessionRecord,
        openid: Option<&str>,
        refresh_token: Secret,
    ) -> CoreResult<LoginGrant> {
        let user = outcome.user;
        let (access, claims) = self
            .tokens
            .issue_access(
                user.id.as_str(),
                &session.id,
                &session.channel,
                openid,
                user.unionid.as_deref(),
                user.phone.as_ref().map(|p| p.as_str()),
                session.created_at.div_euclid(1000),
            )
            .map_err(|e| CoreError::Keys(e.to_string()))?;
        Ok(LoginGrant {
            access_token: Secret::new(access),
            expires_in: self.tokens.access_ttl().as_secs(),
            refresh_token,
            claims,
            user,
            is_new: outcome.is_new,
            revoked_sessions: outcome.revoked_sessions,
        })
    }

    /// Rotates a refresh token and issues a new access token with the user's current facts.
    pub async fn refresh(&self, refresh_token: &str) -> CoreResult<LoginGrant> {
        self.refresh_with(refresh_token, Rotation::default()).await
    }

    /// [`Self::refresh`] with conditions on the rotation (a browser renewal names its session
    /// and keeps its parent replayable for longer).
    pub async fn refresh_with(&self, refresh_token: &str, how: Rotation) -> CoreResult<LoginGrant> {
        let grant = self.sessions.rotate_with(refresh_token, how).await?;
        let user = self
            .user(&grant.session.user_id)
            .await?
            .ok_or(CoreError::InvalidRefreshToken)?;
        let session = grant.session;
        let (access, claims) = self
            .tokens
            .issue_access(
                user.id.as_str(),
                &session.id,
                &session.channel,
                session.openid.as_deref(),
                user.unionid.as_deref(),
                user.phone.as_ref().map(|p| p.as_str()),
                session.created_at.div_euclid(1000),
            )
            .map_err(|e| CoreError::Keys(e.to_string()))?;
        Ok(LoginGrant {
            access_token: Secret::new(access),
            expires_in: self.tokens.access_ttl().as_secs(),
            refresh_token: grant.refresh_token,
            claims,
            user,
            is_new: false,
            revoked_sessions: Vec::new(),
        })
    }

    pub async fn logout(&self, session_id: &str) -> CoreResult<()> {
        self.sessions.revoke(session_id, "logout").await
    }

    /// A user by id, following merge aliases.
    pub async fn user(&self, id: &UserId) -> CoreResult<Option<User>> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(crate::identity::repo::read_user(&mut conn, &self.db, id).await?)
    }

    /// The WeChat identities bound to a user.
    pub async fn bindings(&self, user: &UserId) -> CoreResult<Vec<Binding>> {
        crate::identity::history::bindings_of(&self.db, user).await
    }
}
