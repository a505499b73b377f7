"""Pro Santé Connect calls no peer."""
