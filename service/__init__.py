"""The service layer: rules every door (UI, /engine-rest, /api, CLI) asks before acting."""
