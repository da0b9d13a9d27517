"""Access control: people, credentials, faces, rules, sync to doors, audit, face check-in."""
