-- Renewal notices extract: run once per notice window (see missiva.journeys.renewal_notices)
-- with window_days, window_label ('60d') and the half-open day range of end dates it
-- notices, [window_first_day, window_next_day) as 'YYYY-MM-DD'. One row per active policy
-- ending in that range that has a renewal offer and was not renewed before the end of the
-- data interval (a policy renewed between two notices gets no further notice). The
-- subject key '<policy_id>/<window>' makes each notice go out once per policy and window.
-- The customer is the policy holder's first customers row (duplicate rows are a defect of
-- the onboarding feed, not of the policy). Bound parameters only; portable SQL.
{% from "_customer_contact.sql" import customer_columns, consent_columns, consent_joins, policy_holder %}
SELECT
    r.row_id,
    {{ customer_columns() }},
    {{ consent_columns() }},
    p.policy_id,
    p.product,
    p.currency,
    p.end_date,
    p.premium_cents AS current_premium_cents,
    r.net_premium_cents,
    r.tax_cents,
    r.fee_cents,
    r.net_premium_cents + r.tax_cents + r.fee_cents AS total_premium_cents,
    r.coverage_changes,
    CAST(:window_days AS INTEGER) AS window_days,
    p.policy_id || '/' || :window_label AS subject_key
FROM policies AS p
JOIN policy_renewals AS r
    ON r.policy_id = p.policy_id
{{ policy_holder("p.customer_id") }}
{{ consent_joins() }}
WHERE p.end_date >= :window_first_day
  AND p.end_date < :window_next_day
  AND p.status = 'active'
  AND (r.renewed_at IS NULL OR r.renewed_at >= :interval_end)
ORDER BY r.row_id
