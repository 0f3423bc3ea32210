-- Interface access_tokens shared by replicas, with a lease so one replica fetches at a time.
CREATE TABLE wechat_access_tokens (
    appid        VARCHAR(64) PRIMARY KEY,
    access_token VARCHAR(1024),
    expires_at   BIGINT NOT NULL,
    lease_owner  VARCHAR(64),
    lease_until  BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
