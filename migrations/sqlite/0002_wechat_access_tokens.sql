-- Interface access_tokens shared by replicas, with a lease so one replica fetches at a time.
CREATE TABLE wechat_access_tokens (
    appid        TEXT PRIMARY KEY,
    access_token TEXT,
    expires_at   BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT NOT NULL
);
