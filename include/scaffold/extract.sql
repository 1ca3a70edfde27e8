-- %Title% (scaffolded by `missiva new-journey`): every customer who joined in the run's
-- data interval, half-open [interval_start, interval_end) on joined_at ('YYYY-MM-DD HH:MM:SS'
-- UTC), with the contact data and transactional consents routing reads (0 without a row).
-- Replace the WHERE clause with your journey's rule. Bound parameters only (named
-- interval_start / interval_end and the DAG's params; never format data into SQL).
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
    COALESCE(cs.granted, 0) AS consent_sms_transactional
FROM customers AS c
LEFT JOIN consents AS ce
    ON ce.customer_id = c.customer_id AND ce.channel = 'email' AND ce.purpose = 'transactional'
LEFT JOIN consents AS cp
    ON cp.customer_id = c.customer_id AND cp.channel = 'paper' AND cp.purpose = 'transactional'
LEFT JOIN consents AS cs
    ON cs.customer_id = c.customer_id AND cs.channel = 'sms' AND cs.purpose = 'transactional'
WHERE c.joined_at >= :interval_start
  AND c.joined_at < :interval_end
ORDER BY c.row_id
