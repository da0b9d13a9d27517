"""The live feed: page updates pushed from PostgreSQL notifications."""
