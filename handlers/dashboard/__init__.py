"""The managers' dashboard (/dashboard): login, overview, groups, channels, RFM, contacts."""
