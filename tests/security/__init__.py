"""The attacker's view: each test is one attack on the running hall and the refusal a person
would notice (a status code, an audit entry, an alarm)."""
