
-- %Title% (scaffolded by `missiva new-journey`): what the journey writes about, one
-- communication per row; the demo rows come from include/missiva/devtools/seeders/%journey%.py.
CREATE TABLE %journey%_events (
    event_id    INTEGER PRIMARY KEY,    -- the source's event number
    customer_id TEXT    NOT NULL,
    occurred_at TEXT    NOT NULL        -- 'YYYY-MM-DD HH:MM:SS' UTC
);

CREATE INDEX ix_%journey%_events_occurred_at ON %journey%_events (occurred_at);
