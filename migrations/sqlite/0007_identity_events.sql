-- The outbox of identity events: written in the same transaction as the change they describe,
-- and one delivery row per webhook that wants the event, claimed through the database so that
-- one replica delivers it at a time.
CREATE TABLE identity_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    id            TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    other_user_id TEXT,
    actor         TEXT,
    payload       TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX identity_events_user ON identity_events (user_id);
CREATE INDEX identity_events_other_user ON identity_events (other_user_id);
CREATE INDEX identity_events_created ON identity_events (created_at);

CREATE TABLE event_deliveries (
    webhook         TEXT NOT NULL,
    event_seq       BIGINT NOT NULL REFERENCES identity_events (seq),
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    claim           TEXT,
    last_error      TEXT,
    delivered_at    BIGINT,
    PRIMARY KEY (webhook, event_seq)
);
CREATE INDEX event_deliveries_due ON event_deliveries (status, next_attempt_at);
CREATE INDEX event_deliveries_event ON event_deliveries (event_seq);
