-- WeChat's check of each confirmed avatar (mediaCheckAsync), and what the profile tells the
-- client of it.
--
-- uploads.review_state: NULL where no check was asked (content security off, or avatars
-- confirmed before it); 'queued' until WeChat took the request, 'waiting' for its verdict
-- (review_trace_id) until review_deadline; then 'approved' or 'taken_down'. review_next_at is
-- when the reviewer next acts on a queued or waiting row (ask, or give up waiting), and its
-- lease: claiming moves it. review_verdict: 'pass', 'review', 'risky' or 'unchecked' (no
-- verdict by the deadline); review_error: 'unavailable' or 'refused', what the last failed
-- request was.
--
-- early_verdicts: a verdict pushed before the trace id it answers was stored (WeChat answered the
-- request and pushed within that moment), kept until it is, and pruned after a day.
--
-- users.avatar_review: 'pending' while the user's latest avatar waits for its verdict,
-- 'rejected' when it was not kept (avatar_review_reason says why); NULL otherwise.

-- +goose Up
ALTER TABLE uploads ADD COLUMN review_state TEXT;
ALTER TABLE uploads ADD COLUMN review_verdict TEXT;
ALTER TABLE uploads ADD COLUMN review_label INTEGER;
ALTER TABLE uploads ADD COLUMN review_trace_id TEXT;
ALTER TABLE uploads ADD COLUMN review_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN review_error TEXT;
ALTER TABLE uploads ADD COLUMN review_next_at BIGINT;
ALTER TABLE uploads ADD COLUMN review_deadline BIGINT;
CREATE INDEX uploads_review_due ON uploads (review_next_at) WHERE review_state IN ('queued', 'waiting');
CREATE INDEX uploads_review_trace ON uploads (review_trace_id) WHERE review_trace_id IS NOT NULL;
ALTER TABLE users ADD COLUMN avatar_review TEXT;
ALTER TABLE users ADD COLUMN avatar_review_upload_id TEXT;
ALTER TABLE users ADD COLUMN avatar_review_reason TEXT;
CREATE TABLE early_verdicts (
    trace_id    TEXT    NOT NULL PRIMARY KEY,
    verdict     TEXT    NOT NULL,
    label       INTEGER NOT NULL,
    received_at BIGINT  NOT NULL
);
CREATE INDEX early_verdicts_received ON early_verdicts (received_at);

-- +goose Down
DROP TABLE early_verdicts;
ALTER TABLE users DROP COLUMN avatar_review_reason;
ALTER TABLE users DROP COLUMN avatar_review_upload_id;
ALTER TABLE users DROP COLUMN avatar_review;
DROP INDEX uploads_review_trace;
DROP INDEX uploads_review_due;
ALTER TABLE uploads DROP COLUMN review_deadline;
ALTER TABLE uploads DROP COLUMN review_next_at;
ALTER TABLE uploads DROP COLUMN review_error;
ALTER TABLE uploads DROP COLUMN review_attempts;
ALTER TABLE uploads DROP COLUMN review_trace_id;
ALTER TABLE uploads DROP COLUMN review_label;
ALTER TABLE uploads DROP COLUMN review_verdict;
ALTER TABLE uploads DROP COLUMN review_state;
