"""The knowledge base of past incidents: tags, listing, full-text search, who may see what."""
