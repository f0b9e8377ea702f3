"""Channel adapters: platform updates in, rendered messages out; no conversation logic."""
