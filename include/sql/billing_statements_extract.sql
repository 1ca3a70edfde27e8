-- Billing statements extract: one row per account billed for the month the run's data
-- interval starts in (statement_lines.period 'YYYY-MM'; the monthly run of 2026-12-01
-- bills November), with the statement's totals, the customer's contact data and
-- transactional consents. The account's bill-to address, when set, replaces the
-- customer's. Paperless accounts prefer e-mail, the others paper. The account's
-- customer comes from its first customers row; customer_records counts the rows (not 1:
-- missing or ambiguous, the validation quarantines the statement).
-- Line items and the last months' totals: billing_statement_lines.sql and
-- billing_statement_history.sql. Bound parameters only (named interval_start); portable
-- between SQLite and Postgres.
{% from "_customer_contact.sql" import consent_columns %}
WITH statement_month AS (
    SELECT SUBSTR(CAST(:interval_start AS VARCHAR(19)), 1, 7) AS period
),
totals AS (
    SELECT
        l.account_id,
        l.period,
        COUNT(*) AS line_count,
        CAST(SUM(l.amount_cents) AS INTEGER) AS total_cents,
        CAST(SUM(COALESCE(l.usage_quantity, 0)) AS INTEGER) AS usage_quantity
    FROM statement_lines AS l
    JOIN statement_month AS m ON l.period = m.period
    GROUP BY l.account_id, l.period
)
SELECT
    a.row_id,
    a.account_id,
    a.customer_id,
    (SELECT COUNT(*) FROM customers AS c2 WHERE c2.customer_id = a.customer_id)
        AS customer_records,
    c.first_name,
    c.last_name,
    c.email,
    c.phone,
    c.language,
    c.timezone,
    CASE WHEN a.bill_to_address_line1 IS NULL THEN c.address_line1
         ELSE a.bill_to_address_line1 END AS address_line1,
    CASE WHEN a.bill_to_address_line1 IS NULL THEN c.address_line2
         ELSE a.bill_to_address_line2 END AS address_line2,
    CASE WHEN a.bill_to_address_line1 IS NULL THEN c.postal_code
         ELSE a.bill_to_postal_code END AS postal_code,
    CASE WHEN a.bill_to_address_line1 IS NULL THEN c.city
         ELSE a.bill_to_city END AS city,
    c.country,
    CASE WHEN a.paperless = 1 THEN 'email' ELSE 'paper' END AS preferred_channel,
    c.do_not_contact,
    {{ consent_columns() }},
    a.paperless,
    a.product,
    a.vehicle,
    a.currency,
    t.period,
    t.line_count,
    t.total_cents,
    t.usage_quantity,
    a.account_id || '/' || t.period AS subject_key
FROM totals AS t
JOIN billing_accounts AS a ON a.account_id = t.account_id
LEFT JOIN customers AS c
    ON c.row_id = (
        SELECT MIN(c1.row_id) FROM customers AS c1 WHERE c1.customer_id = a.customer_id
    )
LEFT JOIN consents AS ce
    ON ce.customer_id = a.customer_id AND ce.channel = 'email' AND ce.purpose = 'transactional'
LEFT JOIN consents AS cp
    ON cp.customer_id = a.customer_id AND cp.channel = 'paper' AND cp.purpose = 'transactional'
LEFT JOIN consents AS cs
    ON cs.customer_id = a.customer_id AND cs.channel = 'sms' AND cs.purpose = 'transactional'
ORDER BY a.row_id
