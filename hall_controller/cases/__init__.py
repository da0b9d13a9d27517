"""Online cases: the integration API's cases, events, API keys and webhooks, and the link from a
ticket to its case.
"""
