-- What pruning reads: the users whose review notice names an upload, upload rows whose objects
-- are all gone by when their upload key's object was deleted (the sweeper deletes them after
-- UPLOAD_RETENTION; a current avatar, whose upload key alone is gone, stays out of the index so
-- that no pass reads every user's avatar), and rate-limit rows by
-- their theoretical arrival time (idle clients' rows are deleted every minute).

-- +goose Up
CREATE INDEX users_avatar_review_upload ON users (avatar_review_upload_id) WHERE avatar_review_upload_id IS NOT NULL;
CREATE INDEX uploads_prunable ON uploads (object_deleted_at)
    WHERE object_deleted_at IS NOT NULL AND avatar_deleted_at IS NOT NULL;
-- Rows from before avatars were copies whose avatar was their upload key: deleted with it.
UPDATE uploads SET avatar_deleted_at = object_deleted_at
    WHERE object_deleted_at IS NOT NULL AND avatar_deleted_at IS NULL
      AND COALESCE(NULLIF(avatar_key, ''), object_key) = object_key;
CREATE INDEX rate_limits_tat ON rate_limits (tat);

-- +goose Down
DROP INDEX rate_limits_tat;
DROP INDEX uploads_prunable;
DROP INDEX users_avatar_review_upload;
