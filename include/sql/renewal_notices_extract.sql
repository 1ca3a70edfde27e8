-- Renewal notices extract: run once per notice window (see missiva.journeys.renewal_notices)
-- with window_days, window_label ('60d') and the half-open day range of end dates it
-- notices, [window_first_day, window_next_day) as 'YYYY-MM-DD'. One row per active policy
-- ending in that range that has a renewal offer and was not renewed before the end of the
-- data interval (a policy renewed between two notices gets no further notice). The
-- subject key '<policy_id>/<window>' makes each notice go out once per policy and window.
-- The customer is the policy holder's first customers row (duplicate rows are a defect of
-- the onboarding feed, not of the policy). Bound parameters only; portable SQL.
SELECT
    r.row_id,
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
    COALESCE(ce.granted, 0) AS consent_email_transactional,
    COALESCE(cp.granted, 0) AS consent_paper_transactional,
    COALESCE(cs.granted, 0) AS consent_sms_transactional,
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
JOIN customers AS c
    ON c.row_id = (
        SELECT MIN(c1.row_id) FROM customers AS c1 WHERE c1.customer_id = p.customer_id
    )
LEFT JOIN consents AS ce
    ON ce.customer_id = c.customer_id AND ce.channel = 'email' AND ce.purpose = 'transactional'
LEFT JOIN consents AS cp
    ON cp.customer_id = c.customer_id AND cp.channel = 'paper' AND cp.purpose = 'transactional'
LEFT JOIN consents AS cs
    ON cs.customer_id = c.customer_id AND cs.channel = 'sms' AND cs.purpose = 'transactional'
WHERE p.end_date >= :window_first_day
  AND p.end_date < :window_next_day
  AND p.status = 'active'
  AND (r.renewed_at IS NULL OR r.renewed_at >= :interval_end)
ORDER BY r.row_id
