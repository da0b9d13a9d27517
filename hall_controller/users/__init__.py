"""Users of the HTTP API and the pages (clerks, facilities staff, admins): their accounts,
password hashing, logins and the bearer tokens issued for them.

``service`` holds the rules (argon2id hashes, JWT tokens, roles re-read on every request);
``ports`` what it needs stored; ``postgres_store`` and ``memory_store`` the adapters.
"""
