"""Lifeline computation: plain functions and the Prefect tasks that wrap them."""
