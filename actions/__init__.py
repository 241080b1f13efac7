"""Custom actions of the assistant (Rasa SDK): answers that need the municipality's facts,
and the way to a named official through the handoff service."""
