-- The outbox of identity events: written in the same transaction as the change they describe,
-- and one delivery row per webhook that wants the event, claimed through the database so that
-- one replica delivers it at a time.
CREATE TABLE identity_events (
    seq           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    id            VARCHAR(40) NOT NULL UNIQUE,
    kind          VARCHAR(32) NOT NULL,
    user_id       VARCHAR(64) NOT NULL,
    other_user_id VARCHAR(64),
    actor         VARCHAR(128),
    payload       VARCHAR(4096) NOT NULL,
    created_at    BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX identity_events_user ON identity_events (user_id);
CREATE INDEX identity_events_other_user ON identity_events (other_user_id);
CREATE INDEX identity_events_created ON identity_events (created_at);

CREATE TABLE event_deliveries (
    webhook         VARCHAR(64) NOT NULL,
    event_seq       BIGINT NOT NULL,
    status          VARCHAR(16) NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    claim           VARCHAR(40),
    last_error      VARCHAR(512),
    delivered_at    BIGINT,
    PRIMARY KEY (webhook, event_seq),
    FOREIGN KEY (event_seq) REFERENCES identity_events (seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX event_deliveries_due ON event_deliveries (status, next_attempt_at);
CREATE INDEX event_deliveries_event ON event_deliveries (event_seq);
