"""Accounts: argon2id password hashes and HS256 JWTs."""
