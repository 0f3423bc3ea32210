-- OpenID Connect: a client's login is a session (a refresh family) of its own, bound to the
-- client. Null for the gateway's own sessions.
ALTER TABLE sessions ADD COLUMN client_id VARCHAR(64);
-- The scopes granted to that client, space-separated.
ALTER TABLE sessions ADD COLUMN scope VARCHAR(512);
-- When the person last proved who they are (ms): the id_token's auth_time, kept across refreshes.
ALTER TABLE sessions ADD COLUMN auth_time BIGINT;
