"""The handoff service: the switchboard between residents, the assistant and named officials."""
