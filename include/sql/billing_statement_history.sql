-- The last six months' totals (the statement's month included) of every account billed
-- in the run's month, oldest first; attached to each statement as its "history" (the
-- chart). Months are compared as year * 12 + month, portable between SQLite and Postgres.
WITH statement_month AS (
    SELECT
        SUBSTR(CAST(:interval_start AS VARCHAR(19)), 1, 7) AS period,
        CAST(SUBSTR(CAST(:interval_start AS VARCHAR(19)), 1, 4) AS INTEGER) * 12
            + CAST(SUBSTR(CAST(:interval_start AS VARCHAR(19)), 6, 2) AS INTEGER) AS month_number
)
SELECT
    l.account_id,
    l.period,
    CAST(SUM(l.amount_cents) AS INTEGER) AS total_cents,
    CAST(SUM(COALESCE(l.usage_quantity, 0)) AS INTEGER) AS usage_quantity
FROM statement_lines AS l
CROSS JOIN statement_month AS m
WHERE l.period <= m.period
  AND CAST(SUBSTR(l.period, 1, 4) AS INTEGER) * 12 + CAST(SUBSTR(l.period, 6, 2) AS INTEGER)
      > m.month_number - 6
  AND l.account_id IN (
      SELECT b.account_id FROM statement_lines AS b WHERE b.period = m.period
  )
GROUP BY l.account_id, l.period
ORDER BY l.account_id, l.period
