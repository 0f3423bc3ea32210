-- Users, their WeChat identities and phones, sessions with refresh-token families, and the audit log.
-- Times are Unix milliseconds (BIGINT) on every backend.

CREATE TABLE users (
    id          VARCHAR(64) PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    unionid     VARCHAR(128) UNIQUE,
    phone       VARCHAR(32) UNIQUE,
    nickname    VARCHAR(255),
    avatar_url  VARCHAR(1024),
    merged_into VARCHAR(64) REFERENCES users(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE identities (
    appid         VARCHAR(64) NOT NULL,
    openid        VARCHAR(128) NOT NULL,
    user_id       VARCHAR(64) NOT NULL REFERENCES users(id),
    channel       VARCHAR(64) NOT NULL,
    unionid       VARCHAR(128),
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (appid, openid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX identities_user ON identities (user_id);

CREATE TABLE phone_history (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    phone      VARCHAR(32) NOT NULL,
    user_id    VARCHAR(64) NOT NULL,
    bound_at   BIGINT NOT NULL,
    unbound_at BIGINT,
    reason     VARCHAR(64)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX phone_history_phone ON phone_history (phone);
CREATE INDEX phone_history_user ON phone_history (user_id);

CREATE TABLE audit_events (
    id            BIGINT AUTO_INCREMENT PRIMARY KEY,
    at            BIGINT NOT NULL,
    kind          VARCHAR(64) NOT NULL,
    user_id       VARCHAR(64),
    other_user_id VARCHAR(64),
    channel       VARCHAR(64),
    appid         VARCHAR(64),
    openid        VARCHAR(128),
    phone         VARCHAR(32),
    detail        TEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX audit_events_user ON audit_events (user_id);

CREATE TABLE sessions (
    id            VARCHAR(64) PRIMARY KEY,
    user_id       VARCHAR(64) NOT NULL,
    channel       VARCHAR(64) NOT NULL,
    appid         VARCHAR(64),
    openid        VARCHAR(128),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoke_reason VARCHAR(64)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_revoked ON sessions (revoked_at);

CREATE TABLE refresh_tokens (
    hash        VARCHAR(64) PRIMARY KEY,
    session_id  VARCHAR(64) NOT NULL REFERENCES sessions(id),
    parent_hash VARCHAR(64),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
