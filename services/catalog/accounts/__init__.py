"""Patients' accounts: first activation, sign-in with a one-time code, spaces and caregivers."""
