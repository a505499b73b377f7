"""The console's schemas."""
