-- %Title% (scaffolded by `missiva new-journey`): every customer who joined in the run's
-- data interval, half-open [interval_start, interval_end) on joined_at ('YYYY-MM-DD HH:MM:SS'
-- UTC), with the contact data and transactional consents routing reads (0 without a row).
-- Replace the WHERE clause with your journey's rule. Bound parameters only (named
-- interval_start / interval_end and the DAG's params; never format data into SQL).
{% from "_customer_contact.sql" import customer_columns, consent_columns, consent_joins %}
SELECT
    c.row_id,
    {{ customer_columns() }},
    c.joined_at,
    {{ consent_columns() }}
FROM customers AS c
{{ consent_joins() }}
WHERE c.joined_at >= :interval_start
  AND c.joined_at < :interval_end
ORDER BY c.row_id
