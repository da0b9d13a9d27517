"""Users of the HTTP API and the pages (clerks, facilities staff, admins): their accounts,
password hashing, logins and the bearer tokens issued for them.

``service`` holds the use cases (argon2id hashes behind a concurrency cap, JWT tokens, roles
re-read on every request); ``rules`` the login throttle (lockouts per user and per address);
``ports`` what the service needs stored and where lockouts go; ``lockout_alarms`` records
them as the ``auth.lockout`` alarm; ``postgres_store`` and ``memory_store`` the adapters.
"""
