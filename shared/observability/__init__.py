"""Trace context, the recorded exchanges and JSON logs: what the flow console builds on."""
