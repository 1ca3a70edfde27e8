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
WITH steps (communication, subject_key, joined_from, joined_until) AS (
    SELECT 'welcome', NULL, :interval_start, :interval_end
    UNION ALL
    SELECT 'onboarding_reminder', 'reminder', :reminder_joined_start, :reminder_joined_end
)
SELECT
    c.row_id,
    c.customer_id,
    c.first_name,
    c.last_name,
    c.email,
    c.phone,
    c.language,
    c.timezone,
    c.address_line1,
    c.address_line2,
    c.postal_code,
    c.city,
    c.country,
    c.preferred_channel,
    c.do_not_contact,
    c.joined_at,
    COALESCE(ce.granted, 0) AS consent_email_transactional,
    COALESCE(cp.granted, 0) AS consent_paper_transactional,
    COALESCE(cs.granted, 0) AS consent_sms_transactional,
    p.policy_id,
    p.product,
    s.communication,
    s.subject_key
FROM customers AS c
JOIN steps AS s
    ON c.joined_at >= s.joined_from AND c.joined_at < s.joined_until
LEFT JOIN consents AS ce
    ON ce.customer_id = c.customer_id AND ce.channel = 'email' AND ce.purpose = 'transactional'
LEFT JOIN consents AS cp
    ON cp.customer_id = c.customer_id AND cp.channel = 'paper' AND cp.purpose = 'transactional'
LEFT JOIN consents AS cs
    ON cs.customer_id = c.customer_id AND cs.channel = 'sms' AND cs.purpose = 'transactional'
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
