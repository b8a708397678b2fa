"""Camunda's history resources, one module each."""
