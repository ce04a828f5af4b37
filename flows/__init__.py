"""Prefect flow entrypoints for Lifeline."""
