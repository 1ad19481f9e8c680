-- What pruning reads: the users whose review notice names an upload, upload rows by when their upload key's object was deleted (the sweeper
-- deletes rows whose objects are all gone, after UPLOAD_RETENTION), and rate-limit rows by
-- their theoretical arrival time (idle clients' rows are deleted every minute).

-- +goose Up
CREATE INDEX users_avatar_review_upload ON users (avatar_review_upload_id) WHERE avatar_review_upload_id IS NOT NULL;
CREATE INDEX uploads_prunable ON uploads (object_deleted_at) WHERE object_deleted_at IS NOT NULL;
CREATE INDEX rate_limits_tat ON rate_limits (tat);

-- +goose Down
DROP INDEX rate_limits_tat;
DROP INDEX uploads_prunable;
DROP INDEX users_avatar_review_upload;
