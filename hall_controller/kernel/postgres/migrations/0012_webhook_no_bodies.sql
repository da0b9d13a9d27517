-- Webhook attempts no longer keep what a receiver answered: only its status code, and for a
-- failure a short reason. Until now a non-2xx answer's body (its first 500 characters) was
-- stored as the error and shown back to anyone reading the delivery log: a receiver's page
-- could hold anything, and an internal one (before destinations were checked) could hold
-- what the hall should never have fetched. The rows written before are scrubbed to the same
-- shape as new ones: 'HTTP <status>'. Errors without a status code (timeouts, refused
-- connections) were never a body and stay.
UPDATE webhook_attempts
   SET error = 'HTTP ' || status_code
 WHERE status_code IS NOT NULL AND error IS NOT NULL
   AND error <> 'HTTP ' || status_code;

UPDATE webhook_deliveries
   SET last_error = 'HTTP ' || last_status_code
 WHERE last_status_code IS NOT NULL AND last_error IS NOT NULL
   AND last_error <> 'HTTP ' || last_status_code;
