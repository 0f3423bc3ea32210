-- Users, their WeChat identities and phones, sessions with refresh-token families, and the audit log.
-- Times are Unix milliseconds (BIGINT) on every backend.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    unionid     TEXT UNIQUE,
    phone       TEXT UNIQUE,
    nickname    TEXT,
    avatar_url  TEXT,
    merged_into TEXT REFERENCES users(id)
);

CREATE TABLE identities (
    appid         TEXT NOT NULL,
    openid        TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users(id),
    channel       TEXT NOT NULL,
    unionid       TEXT,
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (appid, openid)
);
CREATE INDEX identities_user ON identities (user_id);

CREATE TABLE phone_history (
    id         BIGSERIAL PRIMARY KEY,
    phone      TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    bound_at   BIGINT NOT NULL,
    unbound_at BIGINT,
    reason     TEXT
);
CREATE INDEX phone_history_phone ON phone_history (phone);
CREATE INDEX phone_history_user ON phone_history (user_id);

CREATE TABLE audit_events (
    id            BIGSERIAL PRIMARY KEY,
    at            BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    user_id       TEXT,
    other_user_id TEXT,
    channel       TEXT,
    appid         TEXT,
    openid        TEXT,
    phone         TEXT,
    detail        TEXT
);
CREATE INDEX audit_events_user ON audit_events (user_id);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    channel       TEXT NOT NULL,
    appid         TEXT,
    openid        TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoke_reason TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_revoked ON sessions (revoked_at);

CREATE TABLE refresh_tokens (
    hash        TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id),
    parent_hash TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
