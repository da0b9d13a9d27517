"""PostgreSQL plumbing every room uses: pool helpers, named-query loading, the one migrations
sequence, the embedded server.
"""
