"""Notifications: new findings, KEV additions, end of support, liveness; signed webhooks, e-mail."""
