-- Shared request rate limits (GCRA), so that every instance counts against the same budget.
-- tat: the theoretical arrival time of the next request, unix milliseconds.
-- No index on tat: only PruneRateLimits scans by it, rarely, while every request rewrites it,
-- and without one PostgreSQL can update the row in place (a HOT update).

-- +goose Up
CREATE TABLE rate_limits (
    key TEXT   NOT NULL PRIMARY KEY,
    tat BIGINT NOT NULL
);

-- +goose Down
DROP TABLE rate_limits;
