-- Onboarding extract, one row per communication of the onboarding journey:
-- * welcome: every customer record that joined in the run's data interval, half-open
--   [interval_start, interval_end) on joined_at ('YYYY-MM-DD HH:MM:SS' UTC);
-- * onboarding_reminder (subject key 'reminder': once per customer): every customer who
--   joined in the same interval shifted back by the reminder_after_days param
--   ([reminder_joined_start, reminder_joined_end), see missiva.journeys.onboarding) and
--   had not completed onboarding (onboarding_progress.completed_at) before interval_end.
-- Each row carries its transactional consents per channel (0 when there is no consent
-- row) and its first policy (earliest start_date, then lowest policy_id; NULL when none).
-- Duplicate customer_id rows are returned as they are: the validation step catches them.
-- Bound parameters only (no colon-prefixed names in comments, SQLAlchemy text() would
-- bind them too); portable between SQLite and Postgres.
{% from "_customer_contact.sql" import customer_columns, consent_columns, consent_joins %}
WITH steps (communication, subject_key, joined_from, joined_until) AS (
    SELECT 'welcome', NULL, :interval_start, :interval_end
    UNION ALL
    SELECT 'onboarding_reminder', 'reminder', :reminder_joined_start, :reminder_joined_end
)
SELECT
    c.row_id,
    {{ customer_columns() }},
    c.joined_at,
    {{ consent_columns() }},
    p.policy_id,
    p.product,
    s.communication,
    s.subject_key
FROM customers AS c
JOIN steps AS s
    ON c.joined_at >= s.joined_from AND c.joined_at < s.joined_until
{{ consent_joins() }}
LEFT JOIN policies AS p
    ON p.policy_id = (
        SELECT p1.policy_id
        FROM policies AS p1
        WHERE p1.customer_id = c.customer_id
        ORDER BY p1.start_date, p1.policy_id
        LIMIT 1
    )
WHERE s.communication = 'welcome'
   OR NOT EXISTS (
        SELECT 1
        FROM onboarding_progress AS op
        WHERE op.customer_id = c.customer_id AND op.completed_at < :interval_end
   )
ORDER BY c.row_id
