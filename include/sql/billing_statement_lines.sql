-- The line items of every statement of the run's month (see billing_statements_extract.sql),
-- in statement order; attached to each statement as its "lines".
WITH statement_month AS (
    SELECT SUBSTR(CAST(:interval_start AS VARCHAR(19)), 1, 7) AS period
)
SELECT
    l.account_id,
    l.line_no,
    l.description,
    l.amount_cents,
    l.usage_quantity,
    l.usage_unit
FROM statement_lines AS l
JOIN statement_month AS m ON l.period = m.period
ORDER BY l.account_id, l.line_no
