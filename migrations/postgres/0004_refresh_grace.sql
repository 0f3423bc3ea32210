-- A rotated refresh token keeps its child sealed (AES-256-GCM, vault key), so a retry of the
-- same refresh within the grace window gets the same child back instead of revoking the family.
ALTER TABLE refresh_tokens ADD COLUMN child_sealed TEXT;
