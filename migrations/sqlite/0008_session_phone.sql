-- The phone a session was started by proving (an SMS login): unbinding that phone ends it.
-- Null for sessions started through a WeChat identity, which end with that identity instead.
ALTER TABLE sessions ADD COLUMN phone TEXT;
