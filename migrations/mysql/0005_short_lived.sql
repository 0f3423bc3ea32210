-- Short-lived state shared by replicas: OAuth states, codes already seen, and counters within a
-- window (one row per key). Every row has an expiry; expired rows are ignored by every read and
-- swept lazily by the writers.
CREATE TABLE short_lived (
    ns         VARCHAR(32) NOT NULL,
    k          VARCHAR(191) NOT NULL,
    v          VARCHAR(2048),
    n          BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (ns, k)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX short_lived_expiry ON short_lived (expires_at);
