-- The latest WeChat session_key per mini-program identity, sealed (AES-256-GCM, vault key in
-- keys_dir): needed to decrypt the legacy encryptedData phone payload of older clients.
CREATE TABLE wechat_sessions (
    appid       TEXT NOT NULL,
    openid      TEXT NOT NULL,
    sealed_key  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (appid, openid)
);
