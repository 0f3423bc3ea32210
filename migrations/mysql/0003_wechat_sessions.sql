-- The latest WeChat session_key per mini-program identity, sealed (AES-256-GCM, vault key in
-- keys_dir): needed to decrypt the legacy encryptedData phone payload of older clients.
CREATE TABLE wechat_sessions (
    appid       VARCHAR(64) NOT NULL,
    openid      VARCHAR(128) NOT NULL,
    sealed_key  VARCHAR(255) NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (appid, openid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
