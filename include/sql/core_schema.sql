-- Demo "core systems" database: customers, consents, policies, claims.
-- Plain DDL that runs on SQLite (the demo) and on Postgres. Timestamps are TEXT
-- 'YYYY-MM-DD HH:MM:SS' in UTC and dates TEXT 'YYYY-MM-DD', so that they compare
-- correctly as strings on both engines.
-- customers.customer_id is deliberately NOT unique: the seeder injects duplicates
-- so that the pipeline's duplicate-key checks have something to catch.

CREATE TABLE customers (
    row_id            INTEGER PRIMARY KEY,   -- surrogate id of the source record
    customer_id       TEXT    NOT NULL,      -- business customer number, e.g. C000123
    first_name        TEXT    NOT NULL,
    last_name         TEXT    NOT NULL,
    email             TEXT,
    phone             TEXT,
    language          TEXT    NOT NULL,      -- 'it' | 'en' (anything else is a data defect)
    timezone          TEXT    NOT NULL,      -- 'Europe/Rome' | 'Europe/London'
    address_line1     TEXT,
    address_line2     TEXT,
    postal_code       TEXT,
    city              TEXT    NOT NULL,
    country           TEXT    NOT NULL,      -- 'IT' | 'GB'
    preferred_channel TEXT    NOT NULL CHECK (preferred_channel IN ('email', 'paper', 'sms')),
    do_not_contact    INTEGER NOT NULL DEFAULT 0 CHECK (do_not_contact IN (0, 1)),
    joined_at         TEXT    NOT NULL       -- 'YYYY-MM-DD HH:MM:SS' UTC
);

CREATE INDEX ix_customers_joined_at ON customers (joined_at);
CREATE INDEX ix_customers_customer_id ON customers (customer_id);

CREATE TABLE consents (
    customer_id TEXT    NOT NULL,
    channel     TEXT    NOT NULL CHECK (channel IN ('email', 'sms', 'paper')),
    purpose     TEXT    NOT NULL CHECK (purpose IN ('transactional', 'marketing')),
    granted     INTEGER NOT NULL CHECK (granted IN (0, 1)),
    recorded_at TEXT    NOT NULL,            -- 'YYYY-MM-DD HH:MM:SS' UTC
    PRIMARY KEY (customer_id, channel, purpose)
);

CREATE TABLE policies (
    policy_id     TEXT    PRIMARY KEY,
    customer_id   TEXT    NOT NULL,
    product       TEXT    NOT NULL,          -- 'Home' | 'Motor' | 'Life' | ...
    premium_cents INTEGER NOT NULL,
    currency      TEXT    NOT NULL,          -- 'EUR' | 'GBP'
    start_date    TEXT    NOT NULL,          -- 'YYYY-MM-DD'
    end_date      TEXT    NOT NULL,          -- 'YYYY-MM-DD'
    status        TEXT    NOT NULL
);

CREATE INDEX ix_policies_customer_id ON policies (customer_id);

CREATE TABLE claims (
    claim_id     TEXT    PRIMARY KEY,
    policy_id    TEXT    NOT NULL,
    customer_id  TEXT    NOT NULL,
    opened_at    TEXT    NOT NULL,           -- 'YYYY-MM-DD HH:MM:SS' UTC
    status       TEXT    NOT NULL,
    amount_cents INTEGER NOT NULL
);

CREATE INDEX ix_claims_customer_id ON claims (customer_id);

-- Claim events as the claims system records them: each one is answered by exactly one
-- letter (claims_letters journey). Detail columns are filled per kind.
CREATE TABLE claim_events (
    event_id         INTEGER PRIMARY KEY,    -- the claims system's event sequence number
    claim_id         TEXT    NOT NULL,
    customer_id      TEXT    NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('acknowledgement', 'documents_request', 'decision')),
    occurred_at      TEXT    NOT NULL,       -- 'YYYY-MM-DD HH:MM:SS' UTC
    documents        TEXT,                   -- documents_request: the documents, '; '-separated
    respond_by       TEXT,                   -- documents_request: 'YYYY-MM-DD'
    decision         TEXT CHECK (decision IN ('accepted', 'partially_accepted', 'rejected')),
    settlement_cents INTEGER,                -- decision: the amount paid (0 when rejected)
    decision_reason  TEXT                    -- decision: why, in the customer's language
);

CREATE INDEX ix_claim_events_occurred_at ON claim_events (occurred_at);

-- Billing (billing_statements journey): pay-per-km motor accounts billed monthly. A
-- customer may hold several accounts. The bill_to_* address, when set, replaces the
-- customer's postal address on the statement (e.g. a household's common address).
CREATE TABLE billing_accounts (
    row_id                INTEGER PRIMARY KEY,   -- surrogate id of the source record
    account_id            TEXT    NOT NULL UNIQUE,
    customer_id           TEXT    NOT NULL,
    product               TEXT    NOT NULL,
    vehicle               TEXT    NOT NULL,
    currency              TEXT    NOT NULL,      -- 'EUR' | 'GBP'
    paperless             INTEGER NOT NULL DEFAULT 0 CHECK (paperless IN (0, 1)),
    opened_on             TEXT    NOT NULL,      -- 'YYYY-MM-DD'
    closed_on             TEXT,                  -- 'YYYY-MM-DD'
    bill_to_address_line1 TEXT,
    bill_to_address_line2 TEXT,
    bill_to_postal_code   TEXT,
    bill_to_city          TEXT
);

CREATE INDEX ix_billing_accounts_customer_id ON billing_accounts (customer_id);

-- One row per line of an account's monthly statement.
CREATE TABLE statement_lines (
    account_id     TEXT    NOT NULL,
    period         TEXT    NOT NULL,             -- 'YYYY-MM', the month billed
    line_no        INTEGER NOT NULL,
    description    TEXT    NOT NULL,             -- in the customer's language
    amount_cents   INTEGER NOT NULL,             -- negative for discounts and credits
    currency       TEXT    NOT NULL,
    usage_quantity INTEGER,                      -- e.g. km driven; NULL for fixed lines
    usage_unit     TEXT,                         -- e.g. 'km'
    PRIMARY KEY (account_id, period, line_no)
);

CREATE INDEX ix_statement_lines_period ON statement_lines (period);

-- Renewal offers (renewal_notices journey): the premium breakdown and cover changes
-- offered for a policy's next term. renewed_at is set when the customer renews (a policy
-- may also show status 'renewed'); no notice goes out after it.
CREATE TABLE policy_renewals (
    row_id            INTEGER PRIMARY KEY,   -- surrogate id of the source record
    policy_id         TEXT    NOT NULL UNIQUE,
    net_premium_cents INTEGER NOT NULL,
    tax_cents         INTEGER NOT NULL,
    fee_cents         INTEGER NOT NULL,
    coverage_changes  TEXT,                  -- in the customer's language; NULL when none
    renewed_at        TEXT                   -- 'YYYY-MM-DD HH:MM:SS' UTC
);

-- Onboarding progress (onboarding journey): completed_at is set when the customer has
-- completed onboarding (identity checked, payment set up); NULL or no row: not yet. A
-- customer who has completed it gets no onboarding reminder.
CREATE TABLE onboarding_progress (
    customer_id  TEXT PRIMARY KEY,
    completed_at TEXT                        -- 'YYYY-MM-DD HH:MM:SS' UTC
);
